"""The checks ``p2s train`` (and ``p2s config show``) run on a config before MMEngine
builds anything: a mistake is then the first and only line printed, not one after the
Runner's set-up log, or an error thousands of iterations in."""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path

from p2s.utils.errors import P2SError


def _known_types() -> set[str]:
    """Every name a config's ``type`` may use: p2s registries and MMEngine's roots."""
    import mmengine.registry.root as roots
    from mmengine.registry import Registry

    from p2s.registry import ALL_REGISTRIES

    names: set[str] = set()
    registries = [r for r in vars(roots).values() if isinstance(r, Registry)] + list(ALL_REGISTRIES.values())
    for registry in registries:
        for node in (registry, *registry._children.values()):
            node.import_from_location()
            names.update(node.module_dict)
    return names


#: what to check when a type is not even close to a registered name
NOT_REGISTERED_HINT = (" A plugin's types are registered when its module is imported: check its "
                       "@REGISTRY.register_module() and the config's custom_imports (p2s registry list --config FILE).")


#: keys MMEngine takes out of a component config before building it
_MMENGINE_KEYS = {"type", "_scope_", "_delete_", "priority"}


def _check_options(node: dict, name: str, path: str) -> None:
    """A p2s class's config naming an option its constructor lacks, or a component option
    without a ``type``, is one line, in ``config show`` as in ``train`` (where building it
    would say the same, later)."""
    from p2s.registry import ALL_REGISTRIES
    from p2s.utils.build import check_arguments, check_component_options

    owners = [(group, reg.module_dict[name]) for group, reg in ALL_REGISTRIES.items() if name in reg.module_dict]
    if len(owners) == 1:
        group, cls = owners[0]
        options = {k: v for k, v in node.items() if k not in _MMENGINE_KEYS}
        try:
            check_arguments(cls, options, ALL_REGISTRIES[group].name)
        except P2SError as err:
            raise P2SError(f"{path or 'top level'}: {err}") from None
        check_component_options(cls, options, path)


def check_types(cfg) -> None:
    """Fail before any build on a ``type`` no registry knows, naming the closest names,
    and on an option a p2s class does not take."""
    known: set[str] | None = None

    def visit(node, path: str) -> None:
        nonlocal known
        if isinstance(node, dict):
            kind = node.get("type")
            if "type" in node and not isinstance(kind, (str, type)) and not callable(kind):
                raise P2SError(f"type at {path or 'top level'} must be a registered name, got {kind!r}")
            if isinstance(kind, str):
                known = known if known is not None else _known_types()
                name = kind.split(".", 1)[-1]
                if name not in known:
                    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.6)
                    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else NOT_REGISTERED_HINT
                    raise P2SError(f"unknown type '{kind}' at {path or 'top level'}.{hint}")
                _check_options(node, name, path)
            for key, value in node.items():
                visit(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                visit(value, f"{path}[{index}]")

    settings = cfg.to_dict()
    # the config's one task first: the datasets hold copies of it (load_config), and an error
    # should name the ``task = dict(...)`` the user wrote, not train_dataloader.dataset.task
    visit({"task": settings.pop("task"), **settings} if "task" in settings else settings, "")


def check_own_hooks(cfg) -> None:
    """Build p2s's own hooks once before the Runner (their constructors only check and
    keep options): a bad option is then the first line printed, not one after MMEngine's
    set-up log.  MMEngine's and plugins' hooks are left to the Runner."""
    from p2s.registry import HOOKS
    from p2s.utils.build import check_arguments

    declared = [(f"custom_hooks[{index}]", hook) for index, hook in enumerate(cfg.get("custom_hooks") or [])]
    declared += [(f"default_hooks.{name}", hook) for name, hook in (cfg.get("default_hooks") or {}).items()]
    for where, hook in declared:
        kind = hook.get("type") if isinstance(hook, dict) else None
        cls = HOOKS.module_dict.get(kind) if isinstance(kind, str) else None
        if cls is None or not cls.__module__.startswith("p2s."):
            continue
        options = {k: v for k, v in hook.items() if k not in ("type", "priority")}  # priority is the Runner's
        check_arguments(cls, options, f"{where}: hook")
        try:
            cls(**copy.deepcopy(options))
        except (TypeError, ValueError) as err:
            raise P2SError(f"{where}: {err}") from None


#: what every training config must define
REQUIRED_KEYS = ("model", "train_dataloader", "train_cfg", "optim_wrapper")


def check_trainable(cfg, path: Path) -> None:
    """A config that cannot train is one line, before anything is built."""
    missing = [key for key in REQUIRED_KEYS if not cfg.get(key)]
    if missing:
        raise P2SError(f"config '{path}' has no {', '.join(missing)}: it is not a training config")
    settings = cfg.to_dict()
    for pattern, (accepts, wanted) in NUMERIC_SETTINGS.items():
        for key, value in _values_at(settings, pattern):
            if not accepts(value):
                raise P2SError(f"{key} must be {wanted}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_int(value) -> bool:
    return _is_int(value) and value >= 1


def _is_rate(value) -> bool:
    """A finite real number >= 0 (a learning rate, a weight decay, a beta)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _are_betas(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_rate(b) and b < 1 for b in value)


_POSITIVE = (_is_positive_int, "a positive integer")
_RATE = (_is_rate, "a finite number >= 0")
_WORKERS = (lambda value: _is_int(value) and value >= 0, "an integer >= 0 (0: load in the main process)")

#: settings checked before anything is built (``*``: any key), as what they must be: MMEngine
#: and torch refuse a wrong one without naming it, after the set-up log, or only mid-run
#: (an interval of 0 divides by zero at the first hook call)
NUMERIC_SETTINGS = {
    "train_cfg.max_iters": _POSITIVE,
    "train_cfg.max_epochs": _POSITIVE,
    "train_cfg.val_interval": _POSITIVE,
    "default_hooks.*.interval": (lambda value: _is_positive_int(value) or value == -1,
                                 "a positive integer (or -1: never)"),
    "default_hooks.checkpoint.max_keep_ckpts": (_is_int, "an integer (-1: keep every checkpoint)"),
    "train_dataloader.batch_size": _POSITIVE,
    "val_dataloader.batch_size": _POSITIVE,
    "train_dataloader.num_workers": _WORKERS,
    "val_dataloader.num_workers": _WORKERS,
    "optim_wrapper.optimizer.lr": _RATE,  # one optimizer, or one per part (a GAN's generator, discriminator)
    "optim_wrapper.*.optimizer.lr": _RATE,
    "optim_wrapper.optimizer.weight_decay": _RATE,
    "optim_wrapper.*.optimizer.weight_decay": _RATE,
    "optim_wrapper.optimizer.betas": (_are_betas, "two numbers in [0, 1), e.g. (0.9, 0.999)"),
    "optim_wrapper.*.optimizer.betas": (_are_betas, "two numbers in [0, 1), e.g. (0.9, 0.999)"),
}


def _values_at(node, pattern: str, prefix: str = ""):
    """``(dotted key, value)`` of each set (not None) setting ``pattern`` names."""
    head, _, rest = pattern.partition(".")
    if not isinstance(node, dict):
        return
    for key in list(node) if head == "*" else [head] if head in node else []:
        if rest:
            yield from _values_at(node[key], rest, f"{prefix}{key}.")
        elif node[key] is not None:
            yield f"{prefix}{key}", node[key]


def check_save_best(cfg) -> None:
    """A ``save_best`` metric validation never logs fails only at the first validation
    (a KeyError, thousands of iterations in): one line before anything is built."""
    hook = (cfg.get("default_hooks") or {}).get("checkpoint")
    wanted = hook.get("save_best") if isinstance(hook, dict) else None
    metrics = val_metric_names(cfg)
    if wanted is None or metrics is None:
        return
    for name in [wanted] if isinstance(wanted, str) else wanted:
        if name != "auto" and name not in metrics:
            raise P2SError(f"default_hooks.checkpoint.save_best={name!r} is not a metric validation logs; "
                           f"use one of {', '.join(metrics)}, 'auto' (the first) or None (no best checkpoint)")


def val_metric_names(cfg) -> list[str] | None:
    """The keys validation logs, made as they are at run time: ``LossMetric`` prefixes
    each term the model's ``val_step`` returns, as its class's ``val_terms`` declares
    them.  None when the config alone cannot tell (another metric, or a model whose
    ``val_step`` comes without a ``val_terms``)."""
    from p2s.evaluation import LossMetric
    from p2s.registry import METRICS, MODELS
    from p2s.utils.build import config_class

    evaluator, model = cfg.get("val_evaluator"), cfg.get("model")
    if not isinstance(evaluator, dict) or not isinstance(model, dict):
        return None
    if config_class(METRICS, evaluator) is not LossMetric:
        return None
    terms = declared_val_terms(config_class(MODELS, model), model)
    if terms is None:
        return None
    prefix = evaluator.get("prefix") or LossMetric.default_prefix
    return [f"{prefix}/{name}" for name in terms]


def declared_val_terms(model_class, model_cfg: dict) -> list[str] | None:
    """``model_class.val_terms(model_cfg)``, trusted only from the class that defines
    ``val_step`` or one of its subclasses: a subclass that overrides ``val_step``
    without ``val_terms`` logs something nobody declared."""
    if not isinstance(model_class, type):
        return None
    owner = next((c for c in model_class.__mro__ if "val_step" in vars(c)), None)
    declares = [c for c in model_class.__mro__ if "val_terms" in vars(c)]
    if owner is None or not declares or not issubclass(declares[0], owner):
        return None
    return model_class.val_terms(model_cfg)


def check_resumable(work_dir: Path) -> str | None:
    """``--resume`` reads ``<work_dir>/last_checkpoint``: with none the run starts from
    iteration 0 (said in one warning line, so scripts may always pass ``--resume``); one
    that names a missing file is an error before anything is built.  Returns the path
    it names (None: there is none)."""
    import warnings

    from p2s.utils.errors import P2SWarning

    pointer = work_dir / "last_checkpoint"
    if not pointer.is_file():
        warnings.warn(f"--resume: no checkpoint in '{work_dir}' yet (no last_checkpoint file); "
                      "training starts from iteration 0", P2SWarning, stacklevel=2)
        return None
    latest = pointer.read_text().strip()
    if not Path(latest).is_file():
        raise P2SError(f"--resume: '{pointer}' names '{latest}', which does not exist; restore that file, "
                       "or write the path of another checkpoint into last_checkpoint")
    return latest


def check_resume_trains(checkpoint: str | None, cfg) -> None:
    """Resuming a checkpoint at or past ``train_cfg.max_iters`` trains nothing and exits 0
    (MMEngine says nothing, and adds an empty log folder): one line instead."""
    max_iters = cfg.train_cfg.get("max_iters")
    done = _checkpoint_iter(checkpoint) if checkpoint and max_iters else None
    if done is not None and done >= max_iters:
        raise P2SError(f"--resume: the checkpoint '{checkpoint}' is at iteration {done}, at or past "
                       f"train_cfg.max_iters={max_iters}, so there is nothing to train; "
                       f"set train_cfg.max_iters above {done} to train on")


def _checkpoint_iter(path: str) -> int | None:
    """The ``meta.iter`` a training checkpoint was saved at, read without loading its
    tensors (memory-mapped); None when it records none or cannot be read that way
    (loading it later says why)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a zip checkpoint, or garbage: the Runner's load reports it
        return None
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    done = meta.get("iter") if isinstance(meta, dict) else None
    return done if _is_int(done) else None


def check_task_fits(model, cfg) -> None:
    """The task's sources fit the built encoder, and its targets the size the losses see:
    before the first batch, not at its forward."""
    encoder = getattr(getattr(model, "module", model), "encoder", None)
    if cfg.get("task") is None or not isinstance(getattr(encoder, "in_channels", None), int):
        return
    _check_fit(cfg.task, encoder.in_channels, getattr(getattr(model, "module", model), "pooled_size", None))


def check_task_fits_config(cfg) -> None:
    """:func:`check_task_fits` from the config alone, for a plain ``PSP`` (whose encoder
    takes ``model.encoder.backbone.in_channels``): a mismatch is then the only line printed,
    not one after MMEngine's set-up log.  Other models (ReStyle's 6-channel encoder) are
    checked once built."""
    from p2s.models.psp import POOLED_SIZE, PSP
    from p2s.registry import MODELS
    from p2s.utils.build import config_class

    model = cfg.get("model")
    if cfg.get("task") is None or not isinstance(model, dict) or config_class(MODELS, model) is not PSP:
        return
    backbone = (model.get("encoder") or {}).get("backbone") or {}
    channels = backbone.get("in_channels") if isinstance(backbone, dict) else None
    if isinstance(channels, int):
        _check_fit(cfg.task, channels, model.get("pooled_size", POOLED_SIZE))


def _check_fit(task_cfg, in_channels: int, pooled) -> None:
    """The task ``task_cfg`` builds makes ``in_channels``-channel sources at ``pooled`` px."""
    from p2s.registry import TASKS
    from p2s.tasks.base import TaskAdapter
    from p2s.utils.build import build

    task = build(TASKS, copy.deepcopy(task_cfg), TaskAdapter)
    task.check_fits(in_channels, f"; set model.encoder.backbone.in_channels={task.source_channels}")
    if isinstance(pooled, int) and pooled != task.image_size:
        raise P2SError(f"task.image_size is {task.image_size} but model.pooled_size is {pooled}: the losses compare "
                       "the generator's output pooled to model.pooled_size with targets at task.image_size; "
                       f"set both to one side (e.g. model.pooled_size={task.image_size})")


def check_load_from(path: str | Path, option: str) -> None:
    """A checkpoint to start from is a readable local file with finite weights: checked
    before the Runner, so a mistake is the first line printed (and a URL, which
    MMEngine would download and unpickle unsafely, is refused)."""
    from p2s.utils.checkpoint import check_finite, load_checkpoint_file

    if "://" in str(path):
        raise P2SError(f"{option} '{path}' is a URL: p2s loads only local checkpoint files "
                       "(MMEngine would download and unpickle it); download it first and give its path")
    if not Path(path).is_file():
        from p2s import zoo

        if str(path) in zoo.names():
            raise P2SError(f"{option} '{path}' names a shipped model: {option} takes a training checkpoint file "
                           "(iter_N.pth); shipped models go where a translation checkpoint or generator weights go")
        raise P2SError(f"{option} '{path}' is not a local checkpoint file: it does not exist")
    ckpt = load_checkpoint_file(path, f"{option} checkpoint")  # garbage is one line
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        check_finite(ckpt["state_dict"], f"{option} checkpoint '{path}'")


def check_datasets(cfg) -> None:
    """Build the train and val datasets once before the Runner, so a missing or empty
    data folder is the first line printed, not the last after MMEngine's set-up log."""
    from p2s.registry import DATASETS
    from p2s.utils.build import build

    for key in ("train_dataloader", "val_dataloader"):
        dataset = (cfg.get(key) or {}).get("dataset")
        if isinstance(dataset, dict) and dataset.get("type") in DATASETS:
            try:
                build(DATASETS, copy.deepcopy(dataset))  # a misspelt option is one line naming it
            except P2SError as err:
                raise P2SError(f"{key}.dataset: {err}") from None


def _weight_options() -> dict[str, tuple[str, str, str]]:
    """type -> (option, what, how to get it) of the weight files p2s's classes read,
    named as their own errors name them."""
    from p2s.backbones.irse import IRSE50_HOW_TO_GET
    from p2s.backbones.resnet import RESNET34_HOW_TO_GET
    from p2s.generators.stylegan2 import HOW_TO_GET as STYLEGAN2_HOW_TO_GET
    from p2s.losses.moco import MOCO_HOW_TO_GET

    return {
        "StyleGAN2Generator": ("weights", "StyleGAN2 weights", STYLEGAN2_HOW_TO_GET),
        "IRSEBackbone": ("weights", "IR-SE weights", IRSE50_HOW_TO_GET),
        "IDLoss": ("weights", "IR-SE weights", IRSE50_HOW_TO_GET),
        "ResNet34Backbone": ("weights", "ResNet-34 weights", RESNET34_HOW_TO_GET),
        "MoCoLoss": ("weights", "MoCo-v2 weights", MOCO_HOW_TO_GET),
    }


def check_weight_files(cfg) -> None:
    """Every weight file the model's parts name exists (the LPIPS trunk's too), checked
    before the Runner: a missing one is then the only line printed, not the last after
    MMEngine's set-up log, which a new user met once per missing file."""
    from p2s.losses.lpips import resolve_trunk_weights
    from p2s.utils.weights import require_weight_file

    options = _weight_options()

    def visit(node) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind in options and isinstance(node.get(options[kind][0]), str) and node[options[kind][0]]:
                option, what, how = options[kind]
                require_weight_file(node[option], what, how)
            if kind == "LPIPSLoss" and not node.get("random_backbone"):
                resolve_trunk_weights(node.get("net", "alex"), node.get("backbone_weights"))
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(cfg.to_dict().get("model"))
