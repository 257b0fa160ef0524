"""Make training checkpoints usable by ``p2s translate`` without executing anything.

MMEngine stores the config as Python text (``meta.cfg``); running that text to read a
checkpoint would execute whatever it contains.  This hook adds the model and task
configs as plain data (the ``p2s`` entry), which ``torch.load(weights_only=True)``
reads safely and ``p2s translate`` rebuilds the model from.
"""

from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from p2s.registry import HOOKS


def _plain(value):
    """ConfigDicts and tuples -> dicts and lists of plain Python values."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@HOOKS.register_module()
class TranslationConfigHook(Hook):
    """Adds ``checkpoint['p2s'] = {model, task, custom_imports, version}``."""

    priority = "LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        from p2s.apis.checkpoint import translation_payload

        cfg = runner.cfg
        if "task" not in cfg:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        imports = cfg.get("custom_imports", {}).get("imports", []) if cfg.get("custom_imports") else None
        if isinstance(imports, str):
            imports = [imports]
        checkpoint["p2s"] = translation_payload(model, _plain(cfg.model), _plain(cfg.task), imports)
