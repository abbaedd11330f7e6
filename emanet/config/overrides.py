"""Merge ``--cfg-options`` into a config, refusing those without effect.

A config file runs as Python: a top-level variable (``optimizer``,
``crop_size``) is copied into the entries that use it while the file runs,
so overriding the variable afterwards changes nothing. Such overrides are
refused, naming the keys that do take effect.
"""
import argparse
import difflib
from typing import Any, Dict, Optional

from mmengine.config import Config, DictAction

from emanet.utils.errors import ConfigError

from .copies import runner_keys, variable_copies
from .option_values import parse_option_value
from .schedule import follow_max_iters


def check_cfg_options(cfg: Config, options: Dict[str, Any]) -> None:
    """Refuse ``--cfg-options`` keys that would change nothing.

    A top-level variable of the config file (``optimizer``, ``crop_size``,
    ``max_iters``, ``norm_cfg``, ...) was already copied into the entries
    that are built when the file was parsed, so overriding it has no
    effect; the message names the entries that do. A new top-level key
    that is close to an existing one is taken for a typo.

    Args:
        cfg (Config): the config as read, before the overrides.
        options (dict): ``{'optimizer.lr': 0.02, ...}``.

    Raises:
        ConfigError: one line per refused key.
    """
    read_directly = runner_keys(cfg)
    errors = []
    for option in options:
        top, _, rest = option.partition('.')
        if top not in cfg:
            if top not in read_directly:
                close = difflib.get_close_matches(
                    top, list(cfg.keys()), n=1, cutoff=0.8)
                if close:
                    errors.append(f"--cfg-options {option}: the config has "
                                  f"no key '{top}'; did you mean "
                                  f"'{close[0]}'?")
            continue
        copies = variable_copies(cfg, top, read_directly)
        if copies is None:
            continue
        # Copies inside other variables (train_pipeline) are not read
        # either; name only those inside entries that are.
        read = [path for path in copies
                if variable_copies(cfg, path.split('.')[0],
                                   read_directly) is None]
        if not read:
            errors.append(f'--cfg-options {option}: nothing reads '
                          f"'{top}' after the config file has run; change "
                          'the entries that use it')
            continue
        targets = [f'{path}.{rest}' if rest else path for path in read]
        which = targets[0] if len(targets) == 1 else (
            f'one or more of {", ".join(targets)}')
        errors.append(
            f"--cfg-options {option}: nothing reads '{top}' after the config "
            f'file has run (its value was copied into {", ".join(read)}); '
            f'set {which} instead')
    if errors:
        raise ConfigError('\n'.join(errors))


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` into ``cfg``, refusing those without effect.

    Keys of config-file variables that nothing reads are refused (see
    :func:`check_cfg_options`); a new ``train_cfg.max_iters`` carries the
    schedulers and intervals that ended there along and cuts the schedule
    of a shorter run (:func:`~emanet.config.schedule.follow_max_iters`).

    Args:
        cfg (Config): the config as read, changed in place.
        options (dict, optional): ``{'optim_wrapper.optimizer.lr': 0.02}``.

    Raises:
        ConfigError: an override would have no effect or cannot be merged.
    """
    if not options:
        return
    check_cfg_options(cfg, options)
    old_max_iters = cfg.get('train_cfg', {}).get('max_iters')
    try:
        cfg.merge_from_dict(options)
    except (TypeError, KeyError, ValueError) as e:  # e.g. a dict onto None
        raise ConfigError(f'--cfg-options: {e}') from e
    if 'train_cfg.max_iters' in options:
        follow_max_iters(cfg, old_max_iters, options)


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that names an item without ``=`` and reads
    dicts and quoted strings as Python does
    (:func:`~emanet.config.option_values.parse_option_value`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            if '=' not in item:
                raise argparse.ArgumentError(
                    self, f'{item!r} is not KEY=VALUE (e.g. '
                    'train_cfg.max_iters=800)')
            key, text = item.split('=', maxsplit=1)
            options[key] = parse_option_value(key, text)
        setattr(namespace, self.dest, options)
