"""Find config typos before anything is built.

mmengine builds most parts lazily (data loaders, optimizer and evaluator
when ``train()`` starts) and reports an unknown key as
``__init__() got an unexpected keyword argument`` without saying which config
file or which entry. :func:`check_config` walks the whole config first and
names the file, the entry (``model.decode_head``), the class and the key.
Which class an entry builds comes from the registries
(:mod:`.registries`), which keys and values it takes from the class's
signature (:mod:`.signatures`).
"""
import difflib
from typing import Any, Iterable, List, Optional, Set

from mmengine.config import Config
from mmengine.registry import Registry

from emanet.utils.errors import ConfigError

from .data_checks import data_errors
from .model_check import model_errors
from .registries import (
    NAMED_ENTRIES,
    registered_names,
    registry_for,
)
from .schedule import schedule_errors
from .signatures import expected_classes, fits, parameters, type_names

# Dicts whose keys are consumed by a helper (build_norm_layer pops
# ``requires_grad`` ...), not passed as they are to a constructor: only their
# ``type`` is checked.
_TYPE_ONLY_KEYS = {'norm_cfg', 'act_cfg', 'conv_cfg', 'init_cfg',
                   'upsample_cfg', 'dcn', 'plugins', 'collate_fn'}
# Keys a builder takes out before calling the constructor, by registry
# name: mmengine's build_optim_wrapper (its constructor's arguments) and
# build_scheduler_from_cfg.
_BUILDER_KEYS = {
    'optim_wrapper': {'constructor', 'paramwise_cfg'},
    'parameter scheduler': {'convert_to_iter_based'},
}
# Keys Runner.build_dataloader takes out before calling DataLoader.
# Parameters whose annotation is narrower than what the constructor takes:
# mmengine's AmpOptimWrapper annotates ``loss_scale: str`` but takes a
# number (a static scale, as in mmsegmentation's configs) or a dict of
# GradScaler arguments.
_WIDER = {('AmpOptimWrapper', 'loss_scale'): (str, int, float, dict)}
_DATALOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn',
                    'worker_init_fn'}


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else '.'


class _Checker:
    """Collects one line per problem while walking a config."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: List[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f'{self.filename}: {path}: {message}')

    def check_keys(self, path: str, node: dict, obj: Any, extra: Set[str],
                   what: str) -> None:
        params, complete = parameters(obj)
        for key, value in node.items():
            if key in ('type', '_scope_') or key in extra:
                continue
            if key not in params:
                if complete:
                    accepted = set(params) | extra
                    self.fail(path, f"unknown key '{key}' for {what}"
                              f'{_hint(key, accepted)}')
                continue
            classes = _WIDER.get((getattr(obj, '__name__', None), key)) \
                or expected_classes(params[key])
            if classes is not None and not fits(value, classes):
                self.fail(path, f'{key}={value!r} '
                          f'({type(value).__name__}), but {what} expects '
                          f'{type_names(classes)}')

    def check_class_weight(self, path: str, node: dict) -> None:
        """One class weight per class in a head's losses."""
        num_classes = node.get('num_classes')
        losses = node.get('loss_decode')
        if not isinstance(num_classes, int) or not losses:
            return
        for i, loss in enumerate(
                losses if isinstance(losses, (list, tuple)) else [losses]):
            weight = loss.get('class_weight') if isinstance(
                loss, dict) else None
            if isinstance(weight, (list, tuple)) and \
                    len(weight) != num_classes:
                where = 'loss_decode' if isinstance(
                    losses, dict) else f'loss_decode[{i}]'
                self.fail(f'{path}.{where}.class_weight',
                          f'{len(weight)} weights for num_classes='
                          f'{num_classes}; give one weight per class '
                          '(or class_weight=None)')

    def walk(self, node: Any, path: str, registry: Optional[Registry],
             key: str) -> None:
        """Check ``node`` (built by ``registry``) and what it holds."""
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                self.walk(item, f'{path}[{i}]', registry, key)
            return
        if not isinstance(node, dict):
            return
        self.check_class_weight(path, node)
        obj_type = node.get('type')
        if isinstance(obj_type, str) and registry is not None:
            obj = registry.get(obj_type)
            if obj is None:
                self.fail(path, f"type='{obj_type}' is not a registered "
                          f'{registry.name} type'
                          f'{_hint(obj_type, registered_names(registry))}')
            elif key not in _TYPE_ONLY_KEYS:
                name = getattr(obj, '__name__', obj_type)
                self.check_keys(path, node, obj,
                                _BUILDER_KEYS.get(registry.name, set()),
                                f'{name} ({getattr(obj, "__module__", "")})')
        for child, value in node.items():
            # Registry objects are falsy while empty: compare with None.
            child_registry = None if key in NAMED_ENTRIES else registry_for(
                child, value, top=False)
            if child_registry is None:
                child_registry = registry
            self.walk(value, f'{path}.{child}', child_registry, child)


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
            checker.walk(value, key, registry_for(key, value, top=True), key)
        for path, message in model_errors(cfg):
            checker.fail(path, message)
        if 'param_scheduler' not in skip:
            for path, message in schedule_errors(cfg):
                checker.fail(path, message)
        for path, message in data_errors(cfg):
            checker.fail(path, message)
    if checker.errors:
        raise ConfigError('\n'.join(checker.errors))
