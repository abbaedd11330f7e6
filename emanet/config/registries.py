"""Which registry builds the dict under a config key.

A config key names what it configures (``model``, ``optimizer``,
``vis_backends``, ``param_scheduler``, ``custom_hooks``,
``train_dataloader.dataset``), and the registries carry the same names
(``'model'``, ``'optimizer'``, ``'vis_backend'``, ``'parameter
scheduler'``, ``'hook'``, ``'dataset'``). Matching the two finds the
registry, so a registry of mmengine or of :mod:`emanet.registry` needs no
entry here; only keys whose name differs from their registry's are listed,
each with the builder that decides it.
"""
import functools
from typing import Any, Dict, Optional, Set

from mmengine.registry import Registry

# The Runner's keys name a stage or role, then what they configure
# (``train_dataloader``, ``val_evaluator``, ``default_hooks``).
_STAGES = ('train_', 'val_', 'test_', 'tta_', 'default_', 'custom_')
# Keys not named after the registry that builds them.
_ALIASES = {
    # mmengine's BaseDataset composes its pipeline from TRANSFORMS.
    'pipeline': 'transform',
    # mmengine's BaseModel builds its data_preprocessor from MODELS.
    'data_preprocessor': 'model',
    # BaseModule.init_weights builds each init_cfg from WEIGHT_INITIALIZERS.
    'init_cfg': 'weight initializer',
    # Runner.build_dataloader builds collate_fn from FUNCTIONS.
    'collate_fn': 'function',
}
# Runner.build_train_loop (val, test) builds ``<stage>_cfg`` from LOOPS;
# elsewhere (``model.test_cfg``) such a key is a plain dict.
_LOOP_KEY = 'cfg'
# ``default_hooks`` maps names to hooks: its keys say what a hook does
# (``param_scheduler``, ``checkpoint``), not which registry builds it.
NAMED_ENTRIES = frozenset({'default_hooks'})


@functools.lru_cache(maxsize=None)  # the registries are module globals
def _all_registries() -> Dict[str, Registry]:
    """Every registry by name; emanet's children replace their parents."""
    from mmengine import registry as mm_registry

    from emanet import registry as em_registry
    found: Dict[str, Registry] = {}
    for module in (mm_registry, em_registry):
        for value in vars(module).values():
            if isinstance(value, Registry):
                found[value.name] = value
    return found


def registry_named(name: str) -> Registry:
    """The registry whose ``name`` is ``name`` (``'runner'``).

    emanet's child is returned where it has one, mmengine's root registry
    otherwise.
    """
    return _all_registries()[name]


def _match(word: str, registries: Dict[str, Registry]) -> Optional[Registry]:
    """The registry named ``word``, or the one whose last word it is."""
    by_name = {name.replace(' ', '_'): r for name, r in registries.items()}
    if word in by_name:
        return by_name[word]
    # ``batch_sampler`` -> 'data sampler', ``param_scheduler`` ->
    # 'parameter scheduler'; a last word two registries share (``wrapper``)
    # decides nothing.
    last = word.rsplit('_', 1)[-1]
    found = [r for name, r in by_name.items()
             if name.rsplit('_', 1)[-1] == last]
    return found[0] if len(found) == 1 else None


def registry_for(key: str, node: Any, top: bool) -> Optional[Registry]:
    """The registry that builds the dicts of ``node`` under ``key``.

    Args:
        key (str): The config key (``'custom_hooks'``, ``'sampler'``).
        node: Its value; an evaluator entry depends on it.
        top (bool): Whether ``key`` is a top-level key of the config.

    Returns:
        Registry or None: None where the key names no registry (the
        caller then keeps the registry of the enclosing entry).
    """
    registries = _all_registries()
    if key in _ALIASES:
        return registries[_ALIASES[key]]
    word = key
    for stage in _STAGES:
        if word.startswith(stage):
            word = word[len(stage):]
            if word in _ALIASES:
                return registries[_ALIASES[word]]
            if top and word == _LOOP_KEY:
                return registries['loop']
            break
    if word.endswith('_cfg'):  # model_wrapper_cfg
        word = word[:-len('_cfg')]
    registry = _match(word, registries)
    if registry is None and word.endswith('s'):  # vis_backends, datasets
        registry = _match(word[:-1], registries)
    if registry is not None and registry.name == 'evaluator' and not (
            isinstance(node, dict) and 'metrics' in node):
        # Runner.build_evaluator builds an evaluator config without
        # ``metrics`` (a dict or a list) as the evaluator's metrics.
        return registries['metric']
    return registry


def registered_names(registry: Registry) -> Set[str]:
    """The type names ``registry`` finds, its parents' included."""
    registry.import_from_location()
    names: Set[str] = set()
    while registry is not None:
        names.update(registry.module_dict)
        registry = registry.parent
    return names
