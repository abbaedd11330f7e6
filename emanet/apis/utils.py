"""Config adjustments shared by the tools and the inference API."""
import argparse
import logging
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from emanet.registry import RUNNERS
from emanet.utils.config_errors import (
    check_cfg_options,
    check_config,
    follow_max_iters,
    read_config,
)
from emanet.utils.errors import ConfigError


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and settle the work dir.

    The work dir is ``work_dir`` if given, else the config's ``work_dir``,
    else ``work_dirs/<config name>``.

    Raises:
        ConfigError: the file cannot be read (naming file and line), an
            override would have no effect, or a key or value is wrong
            (:func:`check_config`).
    """
    cfg = read_config(path)
    merge_cfg_options(cfg, cfg_options)
    check_config(cfg)  # before anything is created (work dir, logs)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(path))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def work_dir_source(cfg: Config, config_path: str,
                    cli_work_dir: Optional[str]) -> str:
    """What set ``cfg.work_dir`` (after :func:`load_config`), for messages.

    Returns:
        str: ``'--work-dir'``, ``'work_dir in <config>'`` or the default.
    """
    if cli_work_dir is not None:
        return '--work-dir'
    name = osp.splitext(osp.basename(config_path))[0]
    if cfg.work_dir == osp.join('./work_dirs', name):
        return 'default (work_dirs/<config name>)'
    return f'work_dir in {config_path}'


def opacity_type(text: str) -> float:
    """argparse type of an opacity: a number in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f'{text} is outside (0, 1]; use e.g. 0.5')
    return value


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` into ``cfg``, refusing those without effect.

    Keys of config-file variables that nothing reads are refused (see
    :func:`check_cfg_options`); a new ``train_cfg.max_iters`` carries the
    schedulers and intervals that ended there along
    (:func:`follow_max_iters`).
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
    """mmengine's ``DictAction`` that names an item without ``=``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values or ():
            if '=' not in item:
                raise argparse.ArgumentError(
                    self, f'{item!r} is not KEY=VALUE (e.g. '
                    'train_cfg.max_iters=800)')
        super().__call__(parser, namespace, values, option_string)


def resolve_device(name: Optional[str] = None) -> torch.device:
    """``name`` as a device; by default CUDA when available, else CPU.

    Raises:
        RuntimeError: CUDA is asked for but not available.
    """
    if name is None:
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'device {name!r} asked for, but CUDA is not '
                           'available; use --device cpu')
    return device


def build_runner(cfg: Config) -> Runner:
    """Check ``cfg`` for typos, then build its Runner (``runner_type``)."""
    check_config(cfg)  # fails naming the file, entry, class and key
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def revert_sync_bn_cfg(node: Any) -> int:
    """Turn every ``norm_cfg`` of type ``SyncBN`` into ``BN``, in place.

    SyncBN and BN share state-dict keys, so checkpoints load either way.

    Args:
        node: a config (dict / list tree), typically ``cfg.model``.

    Returns:
        int: how many ``SyncBN`` entries were changed.
    """
    changed = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += revert_sync_bn_cfg(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += revert_sync_bn_cfg(value)
    return changed


def prepare_launch(cfg: Config, launcher: str) -> None:
    """Fit ``cfg`` to the launcher and device before building a Runner.

    Without CUDA, distributed runs use the ``gloo`` backend, and SyncBN
    (CUDA/NCCL only in a process group) becomes BN; single-process runs use
    BN too, where SyncBN would only cost time.

    Args:
        cfg (Config): the full config, changed in place.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
    """
    cfg.launcher = launcher
    distributed = launcher != 'none'
    cuda = torch.cuda.is_available()
    if distributed and not cuda:
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
        cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not (distributed and cuda) and revert_sync_bn_cfg(cfg.model):
        where = 'without CUDA' if not cuda else 'in a single process'
        print_log(f'SyncBN replaced by BN: running {where}.',
                  logger='current', level=logging.INFO)
