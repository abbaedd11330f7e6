"""Where the value of a config-file variable went.

A config file runs as Python: a top-level variable (``optimizer``,
``crop_size``) is copied into the entries that use it while the file runs
(``optim_wrapper.optimizer``, ``train_dataloader.dataset.pipeline.3``), and
nothing reads the variable itself afterwards. Equal values at two places
are taken for such a copy: the knowledge behind the ``--cfg-options``
refusals (:mod:`.overrides`) and the leaf-file check (:mod:`.leaf_variables`).
"""
from typing import Any, List, Optional, Set

from mmengine.config import Config

from .registries import registry_named
from .signatures import parameters, same_value


def runner_keys(cfg: Config) -> Set[str]:
    """Top-level keys the config's Runner takes (``runner_type`` too)."""
    from mmengine.runner import Runner
    runner = cfg.get('runner_type', Runner)
    if isinstance(runner, str):
        runner = registry_named('runner').get(runner) or Runner
    return set(parameters(runner)[0]) | {'runner_type'}


def copies_of(value: Any, node: Any, path: str) -> List[str]:
    """Paths below ``node`` (not ``node`` itself) holding ``value``.

    Paths use the ``--cfg-options`` syntax (``param_scheduler.1.end``).
    """
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return []
    found = []
    for key, child in items:
        child_path = f'{path}.{key}'
        if same_value(child, value):
            found.append(child_path)
        else:
            found.extend(copies_of(value, child, child_path))
    return found


def variable_copies(cfg: Config, key: str,
                    read_directly: Set[str]) -> Optional[List[str]]:
    """Where a parse-time variable's value went; None if ``key`` is read.

    A top-level key whose value also sits inside another top-level entry
    was copied there when the file ran (``optimizer`` into
    ``optim_wrapper.optimizer``, ``max_iters`` into ``train_cfg``):
    nothing reads the key itself afterwards. Scalars the Runner takes are
    read directly, however they compare; booleans, None and empty values
    say nothing.

    Args:
        cfg (Config): the config.
        key (str): one of its top-level keys.
        read_directly (set): :func:`runner_keys` of ``cfg``.
    """
    value = cfg.get(key)
    if (value is None or isinstance(value, bool)
            or (isinstance(value, (str, dict, list, tuple)) and not value)
            or (key in read_directly
                and not isinstance(value, (dict, list, tuple)))):
        return None
    found = [path for other in cfg.keys() if other != key
             for path in copies_of(value, cfg[other], other)]
    return found or None
