"""Fit the parameter schedule to a ``train_cfg.max_iters`` override.

A smoke run (``--cfg-options train_cfg.max_iters=5``) of a config with a
20-iteration warm-up runs, as in mmsegmentation: the schedule is cut where
the run ends. Only a schedule that cannot exist as written (a scheduler
that ends before it begins) is refused.
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from emanet.utils.errors import ConfigError

from .signatures import same_value


def _schedulers(cfg: Config) -> List[Tuple[Optional[int], str, dict]]:
    """``(index, --cfg-options path, config)`` of each scheduler.

    The index is None for a single scheduler given as a dict; a dict of
    schedulers per optimizer is left alone.
    """
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        return [(None, 'param_scheduler', schedulers)] if (
            'type' in schedulers) else []
    return [(i, f'param_scheduler.{i}', s) for i, s in enumerate(schedulers)
            if isinstance(s, dict)]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _begin(node: dict) -> Any:
    return node.get('begin', 0)  # mmengine's default


def schedule_errors(cfg: Config) -> List[Tuple[str, str]]:
    """Schedulers that end before they begin, as written in ``cfg``.

    mmengine refuses them with a ``ValueError`` once training starts.

    Returns:
        list: ``(entry, message)`` per such scheduler, the entry as
        :func:`~emanet.config.checking.check_config` names it.
    """
    errors = []
    for index, path, node in _schedulers(cfg):
        begin, end = _begin(node), node.get('end')
        if _number(begin) and _number(end) and begin >= end:
            entry = 'param_scheduler' if index is None else (
                f'param_scheduler[{index}]')
            errors.append((entry, (
                f'begin={begin} and end={end} ({node.get("type")}): a '
                f'scheduler has to end after it begins; set {path}.end '
                f'above {begin} or {path}.begin below {end}')))
    return errors


def follow_max_iters(cfg: Config, old: Any, options: Dict[str, Any]) -> None:
    """Carry a ``train_cfg.max_iters`` override over to the schedule.

    What ended at the config's ``max_iters`` follows the new value: the
    ``end`` of ``param_scheduler`` entries and the validation and
    checkpoint intervals (one INFO line lists them), unless ``options``
    sets them too. A shorter run cuts the schedule where it ends: a
    scheduler that would begin at or after the new ``max_iters`` is
    removed (not started), one that ends later keeps its ``begin`` and
    ``end`` (its shape) and is stopped by the end of the run; one WARNING
    line names both.

    Args:
        cfg (Config): the config after the overrides, changed in place.
        old: ``train_cfg.max_iters`` before the overrides.
        options (dict): the ``--cfg-options`` that were merged.

    Raises:
        ConfigError: a scheduler, as written, ends before it begins.
    """
    new = cfg.get('train_cfg', {}).get('max_iters')
    if not _number(new) or new == old:
        return
    errors = schedule_errors(cfg)  # before anything here hides them
    if errors:
        name = cfg.filename or '<config>'
        raise ConfigError('\n'.join(f'{name}: {entry}: {message}'
                                    for entry, message in errors))

    def given(path: str) -> bool:
        return any(path == k or path.startswith(k + '.') for k in options)

    schedulers = _schedulers(cfg)
    dropped = {path: node for _, path, node in schedulers
               if _number(_begin(node)) and _begin(node) >= new}
    kept = [(path, node) for _, path, node in schedulers
            if path not in dropped]
    entries = [(f'{path}.end', node, 'end') for path, node in kept]
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    for path, node in (('train_cfg.val_interval', cfg.train_cfg),
                       ('default_hooks.checkpoint.interval', checkpoint)):
        if isinstance(node, dict):
            entries.append((path, node, path.rsplit('.', 1)[1]))
    followed = []
    for path, node, key in entries:
        if same_value(node.get(key), old) and not given(path):
            node[key] = new
            followed.append(path)
    if followed:
        print_log(f'train_cfg.max_iters {old} -> {new}: {", ".join(followed)}'
                  f' equalled {old} and follow it', logger='current')
    cut = [f'{path} = {node[key]} ({node.get("type")}) ends later (cut '
           'short, same shape)' for path, node, key in entries
           if path.startswith('param_') and _number(node.get(key))
           and node[key] > new]
    cut += [f'{path}.begin = {_begin(node)} ({node.get("type")}) is '
            'not before it (not started)' for path, node in dropped.items()]
    if dropped:
        single = isinstance(cfg.param_scheduler, dict)
        nodes = [node for _, node in kept]
        cfg.param_scheduler = nodes[0] if single and nodes else nodes
    if cut:
        print_log(f'train_cfg.max_iters is {new} but {"; ".join(cut)}: the '
                  'schedule is cut where the run ends; set the schedulers\' '
                  'begin and end with --cfg-options for another schedule',
                  logger='current', level=logging.WARNING)
