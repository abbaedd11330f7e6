"""Find config typos before anything is built.

mmengine builds most parts lazily (data loaders, optimizer and evaluator
when ``train()`` starts) and reports an unknown key as
``__init__() got an unexpected keyword argument`` without saying which config
file or which entry. :func:`check_config` walks the whole config first and
names the file, the entry (``model.decode_head``), the class and the key.
"""
import difflib
import inspect
from typing import Any, Iterable, List, Optional, Set

from mmengine.config import Config

from .errors import UserError


class ConfigError(UserError, ValueError):
    """A config entry names an unknown type or passes an unknown key."""


# Which registry builds the dicts under a top-level key; children inherit it
# unless their own key is in _NESTED_REGISTRY.
_TOP_REGISTRY = {
    'model': 'MODELS',
    'tta_model': 'MODELS',
    'data_preprocessor': 'MODELS',
    'train_pipeline': 'TRANSFORMS',
    'test_pipeline': 'TRANSFORMS',
    'tta_pipeline': 'TRANSFORMS',
    'val_evaluator': 'METRICS',
    'test_evaluator': 'METRICS',
    'optim_wrapper': 'OPTIM_WRAPPERS',
    'param_scheduler': 'PARAM_SCHEDULERS',
    'default_hooks': 'HOOKS',
    'custom_hooks': 'HOOKS',
    'visualizer': 'VISUALIZERS',
    'vis_backends': 'VISBACKENDS',
    'train_cfg': 'LOOPS',
    'val_cfg': 'LOOPS',
    'test_cfg': 'LOOPS',
    'log_processor': 'LOG_PROCESSORS',
}
_NESTED_REGISTRY = {
    'data_preprocessor': 'MODELS',
    'dataset': 'DATASETS',
    'datasets': 'DATASETS',
    'sampler': 'DATA_SAMPLERS',
    'batch_sampler': 'DATA_SAMPLERS',
    'pipeline': 'TRANSFORMS',
    'transforms': 'TRANSFORMS',
    'optimizer': 'OPTIMIZERS',
    'vis_backends': 'VISBACKENDS',
    'init_cfg': 'WEIGHT_INITIALIZERS',
    'collate_fn': 'FUNCTIONS',
}
# Dicts whose keys are consumed by a helper (build_norm_layer pops
# ``requires_grad`` ...), not passed as they are to a constructor: only their
# ``type`` is checked.
_TYPE_ONLY_KEYS = {'norm_cfg', 'act_cfg', 'conv_cfg', 'init_cfg',
                   'upsample_cfg', 'dcn', 'plugins', 'collate_fn'}
# Keys the Runner or a builder takes out before calling the constructor.
_BUILDER_KEYS = {
    'OPTIM_WRAPPERS': {'constructor', 'paramwise_cfg'},
    'PARAM_SCHEDULERS': {'convert_to_iter_based'},
}
_DATALOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                    'worker_init_fn'}


def _registry(name: str):
    from mmengine import registry as mm_registry

    from emanet import registry as em_registry
    # Not ``a or b``: a Registry with nothing imported yet has len() 0.
    registry = getattr(em_registry, name, None)
    return getattr(mm_registry, name) if registry is None else registry


def _registered_names(registry) -> Set[str]:
    registry.import_from_location()
    names: Set[str] = set()
    while registry is not None:
        names.update(registry.module_dict)
        registry = registry.parent
    return names


def _accepted_keys(obj: Any) -> Optional[Set[str]]:
    """Keyword arguments ``obj(**kwargs)`` accepts; None if open-ended.

    Follows ``**kwargs`` up the class hierarchy (``EMAHead(**kwargs)`` passes
    them to ``BaseDecodeHead``); gives up (None) where they go elsewhere.
    """
    import torch.nn as nn
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
               inspect.Parameter.KEYWORD_ONLY)
    funcs = [obj] if not inspect.isclass(obj) else [
        klass.__dict__['__init__'] for klass in obj.__mro__
        if '__init__' in klass.__dict__
        and klass not in (object, nn.Module)]
    names: Set[str] = set()
    for func in funcs:
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in params if p.kind in keyword)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return names - {'self'}
    return None


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else '.'


class _Checker:

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: List[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f'{self.filename}: {path}: {message}')

    def check_keys(self, path: str, node: dict, obj: Any, extra: Set[str],
                   what: str) -> None:
        accepted = _accepted_keys(obj)
        if accepted is None:
            return
        accepted |= extra
        for key in node:
            if key in ('type', '_scope_') or key in accepted:
                continue
            self.fail(path, f"unknown key '{key}' for {what}"
                      f'{_hint(key, accepted)}')

    def walk(self, node: Any, path: str, reg_name: Optional[str],
             key: str) -> None:
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                self.walk(item, f'{path}[{i}]', reg_name, key)
            return
        if not isinstance(node, dict):
            return
        obj_type = node.get('type')
        if isinstance(obj_type, str) and reg_name is not None:
            registry = _registry(reg_name)
            obj = registry.get(obj_type)
            if obj is None:
                self.fail(path, f"type='{obj_type}' is not a registered "
                          f'{registry.name} type'
                          f'{_hint(obj_type, _registered_names(registry))}')
            elif key not in _TYPE_ONLY_KEYS:
                name = getattr(obj, '__name__', obj_type)
                self.check_keys(path, node, obj,
                                _BUILDER_KEYS.get(reg_name, set()),
                                f'{name} ({getattr(obj, "__module__", "")})')
        for child, value in node.items():
            child_reg = _NESTED_REGISTRY.get(child, reg_name)
            self.walk(value, f'{path}.{child}', child_reg, child)


def check_config(cfg: Config, skip: Iterable[str] = ()) -> None:
    """Check every ``type`` and every constructor key of a config.

    Call it after command-line overrides are merged and before the Runner
    is built: a typo then fails at once instead of after the model and the
    data are set up.

    Args:
        cfg (Config): The loaded config (``cfg.filename`` is named in the
            message).
        skip (Iterable[str]): Top-level keys not to check (e.g.
            ``('tta_model', 'tta_pipeline')`` when TTA is not used).

    Raises:
        ConfigError: Naming the config file, the entry, the class and the
            key, one line per problem.
    """
    from mmengine.registry import DefaultScope
    from torch.utils.data import DataLoader

    import emanet  # noqa: F401  (creates the 'emanet' scope)

    checker = _Checker(cfg.filename or '<config>')
    scope = cfg.get('default_scope', 'emanet')
    with DefaultScope.overwrite_default_scope(scope):
        for key, value in cfg.items():
            if key in skip:
                continue
            if key.endswith('_dataloader') and isinstance(value, dict):
                checker.check_keys(key, value, DataLoader, _DATALOADER_KEYS,
                                   'DataLoader (torch.utils.data)')
            checker.walk(value, key, _TOP_REGISTRY.get(key), key)
    if checker.errors:
        raise ConfigError('\n'.join(checker.errors))
