"""Every p2s registry, in one place (scope ``p2s``).

Runner-facing registries are children of MMEngine's roots so that ``Runner.from_cfg``
finds p2s classes under ``default_scope='p2s'``.  The domain registries (backbones,
encoders, generators, losses, tasks) stand alone: MMEngine allows only one child per
scope under a root, and keeping them separate gives typed groups and a per-group
``p2s registry list``.  Each registry imports its ``locations`` lazily on first use.
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

# --- Runner-facing (children of the MMEngine roots) --------------------------------
MODELS = Registry("model", parent=MMENGINE_MODELS, scope="p2s", locations=["p2s.models"])
DATASETS = Registry(
    "dataset", parent=MMENGINE_DATASETS, scope="p2s", locations=["p2s.datasets", "p2s.synthfaces.dataset"]
)
DATA_SAMPLERS = Registry(
    "data sampler", parent=MMENGINE_DATA_SAMPLERS, scope="p2s", locations=["p2s.datasets"]
)
TRANSFORMS = Registry(
    "transform", parent=MMENGINE_TRANSFORMS, scope="p2s", locations=["p2s.datasets.transforms"]
)
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope="p2s", locations=["p2s.engine"])
METRICS = Registry("metric", parent=MMENGINE_METRICS, scope="p2s", locations=["p2s.evaluation"])
OPTIMIZERS = Registry(
    "optimizer", parent=MMENGINE_OPTIMIZERS, scope="p2s", locations=["p2s.engine.optimizers"]
)
OPTIM_WRAPPERS = Registry(
    "optim_wrapper", parent=MMENGINE_OPTIM_WRAPPERS, scope="p2s", locations=["p2s.engine.amp"]
)
VISUALIZERS = Registry(
    "visualizer", parent=MMENGINE_VISUALIZERS, scope="p2s", locations=["p2s.engine"]
)
VISBACKENDS = Registry(
    "vis_backend", parent=MMENGINE_VISBACKENDS, scope="p2s", locations=["p2s.engine"]
)

# Children p2s adds nothing to: they exist so that building MMEngine's own loops,
# wrappers and schedulers under ``default_scope='p2s'`` finds a p2s node (no warnings).
LOOPS = Registry("loop", parent=MMENGINE_LOOPS, scope="p2s")
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    "optimizer wrapper constructor", parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope="p2s"
)
PARAM_SCHEDULERS = Registry("parameter scheduler", parent=MMENGINE_PARAM_SCHEDULERS, scope="p2s")
LOG_PROCESSORS = Registry("log_processor", parent=MMENGINE_LOG_PROCESSORS, scope="p2s",
                          locations=["p2s.engine.log_processor"])
EVALUATOR = Registry("evaluator", parent=MMENGINE_EVALUATOR, scope="p2s")
MODEL_WRAPPERS = Registry(
    "model_wrapper", parent=MMENGINE_MODEL_WRAPPERS, scope="p2s", locations=["p2s.engine"]
)
WEIGHT_INITIALIZERS = Registry("weight initializer", parent=MMENGINE_WEIGHT_INITIALIZERS, scope="p2s")
FUNCTIONS = Registry("function", parent=MMENGINE_FUNCTIONS, scope="p2s")

# --- Domain registries (standalone) -------------------------------------------------
#: image -> dict of named multi-scale features (``BaseBackbone``)
BACKBONES = Registry("backbone", scope="p2s", locations=["p2s.backbones"])
#: image -> ``[N, num_ws, w_dim]`` (W+) or ``[N, w_dim]`` (W) codes (``BaseEncoder``)
ENCODERS = Registry("encoder", scope="p2s", locations=["p2s.encoders"])
#: ``ws`` -> image (``BaseGenerator``)
GENERATORS = Registry("generator", scope="p2s", locations=["p2s.generators"])
#: (pred, target, ...) -> scalar tensor
LOSSES = Registry("loss", scope="p2s", locations=["p2s.losses"])
#: task adapters: source channels, pre-processing, pipelines, mixing layers (``TaskAdapter``)
TASKS = Registry("task", scope="p2s", locations=["p2s.tasks"])

#: the groups ``p2s registry list`` shows, by name
ALL_REGISTRIES = {
    "backbones": BACKBONES,
    "encoders": ENCODERS,
    "generators": GENERATORS,
    "losses": LOSSES,
    "tasks": TASKS,
    "models": MODELS,
    "datasets": DATASETS,
    "samplers": DATA_SAMPLERS,
    "transforms": TRANSFORMS,
    "hooks": HOOKS,
    "metrics": METRICS,
    "optimizers": OPTIMIZERS,
    "optim_wrappers": OPTIM_WRAPPERS,
    "visualizers": VISUALIZERS,
    "log_processors": LOG_PROCESSORS,
    "model_wrappers": MODEL_WRAPPERS,
}
