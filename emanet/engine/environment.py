"""What the Runner adapts to the machine: the logged environment, and
distributed runs without CUDA (CPU DDP, SyncBN, where results gather)."""
import os.path as osp
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.utils.dl_utils import collect_env

from emanet.utils.benchmarking import device_description

from .dist_env import process_group_backend


def resolve_env_cfg(env_cfg: Optional[dict]) -> dict:
    """``env_cfg`` with the process group backend that will be used.

    The backend is :func:`.dist_env.process_group_backend`'s (``gloo``
    where the config asks for ``nccl`` without CUDA), so the logged
    environment tells the truth.

    Args:
        env_cfg: the config's ``env_cfg``; None for mmengine's default
            (``dist_cfg=dict(backend='nccl')``).

    Returns:
        dict: a copy, ``dist_cfg.backend`` resolved.
    """
    env_cfg = dict(env_cfg if env_cfg is not None else
                   dict(dist_cfg=dict(backend='nccl')))
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = process_group_backend(
        dist_cfg.get('backend', 'nccl'))
    env_cfg['dist_cfg'] = dist_cfg
    return env_cfg


def log_environment(runner, env_cfg: dict, randomness: dict) -> None:
    """Log the environment as mmengine's Runner does, true without CUDA.

    The header holds the backend used (:func:`resolve_env_cfg`); without
    CUDA the device line names the CPU and the processes instead of a GPU
    number. The config follows, as in mmengine.

    Args:
        runner: the Runner being built (logger, seed and launcher set).
        env_cfg: the config's ``env_cfg``.
        randomness: the config's ``randomness``.
    """
    runtime = OrderedDict(resolve_env_cfg(env_cfg))
    runtime.update(randomness)
    runtime['seed'] = runner.seed
    runtime['Distributed launcher'] = runner.launcher
    runtime['Distributed training'] = runner.distributed
    if torch.cuda.is_available():
        runtime['GPU number'] = runner.world_size
    else:
        runtime['Device'] = device_description('cpu')
        runtime['Processes'] = runner.world_size
    lines = ['-' * 60, 'System environment:']
    lines += [f'    {k}: {v}' for k, v in collect_env().items()]
    lines += ['', 'Runtime environment:']
    lines += [f'    {k}: {v}' for k, v in runtime.items()]
    lines.append('-' * 60)
    runner.logger.info('\n' + '\n'.join(lines) + '\n')
    if runner.cfg:
        runner.logger.info(f'Config:\n{runner.cfg.pretty_text}')


def revert_unsupported_sync_bn(model: nn.Module, distributed: bool,
                               logger) -> nn.Module:
    """SyncBN becomes BN (same state-dict keys) where it cannot run.

    SyncBN needs CUDA and several processes; otherwise it is replaced, with
    one log line when the model had any.
    """
    cuda = torch.cuda.is_available()
    if (distributed and cuda) or is_model_wrapper(model):
        return model
    has_sync_bn = any(isinstance(m, nn.SyncBatchNorm)
                      for m in model.modules())
    model = revert_sync_batchnorm(model)
    if has_sync_bn:
        where = 'without CUDA' if not cuda else 'in a single process'
        logger.info(f'SyncBN replaced by BN: running {where}.')
    return model


def cpu_wrapper_cfg(model_wrapper_cfg: Optional[dict], model: nn.Module,
                    distributed: bool,
                    find_unused_parameters: bool) -> Optional[dict]:
    """The DDP wrapper of a distributed run without CUDA.

    mmengine's default wrapper passes the current CUDA device; on CPU, DDP
    needs ``device_ids=None``. A config's own ``model_wrapper_cfg`` and an
    already wrapped model are left alone.
    """
    if not distributed or torch.cuda.is_available() or \
            model_wrapper_cfg is not None or is_model_wrapper(model):
        return model_wrapper_cfg
    return dict(type='MMDistributedDataParallel', device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=find_unused_parameters)


def gather_in_log_dir(evaluator: Evaluator, log_dir: str) -> Evaluator:
    """Metrics gathered through files (CPU) use a folder of ``log_dir``.

    mmengine's default is ``.dist_test/`` in the current directory, left
    there (empty) after every multi-process evaluation. The log folder is
    shared by the processes as the work dir is; mmengine removes the
    gathering folder once rank 0 has read it.
    """
    for i, metric in enumerate(evaluator.metrics):
        if getattr(metric, 'collect_device', None) == 'cpu' and \
                getattr(metric, 'collect_dir', '') is None:
            metric.collect_dir = osp.join(log_dir, f'.collect_results_{i}')
    return evaluator
