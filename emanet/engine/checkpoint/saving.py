"""Saving: every rank's random state, only finite states, atomic files.

The checkpoint is the dict mmengine's ``Runner.save_checkpoint`` (0.10)
writes, assembled here from the Runner's public state, with every rank's
random generators in ``meta.random_state``. The ``before_save_checkpoint``
hooks edit it as in mmengine; a local file is then written through
:func:`emanet.utils.atomic_io.atomic_path` (temporary file, fsync, rename)
rather than in place through mmengine's deprecated ``FileClient``.
"""
import io
import time
from typing import Any, Dict, List, Optional, Tuple

import mmengine
import torch
import torch.nn as nn
from mmengine.dist import all_gather_object, is_distributed
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner.checkpoint import save_checkpoint as mmengine_save
from mmengine.runner.checkpoint import weights_to_cpu
from mmengine.utils import apply_to, get_git_hash

from emanet.engine.work_dir import write_error
from emanet.utils.atomic_io import atomic_path
from emanet.utils.errors import TrainingDivergedError

from .fitting import nonfinite_tensors
from .last_checkpoint import last_saved_checkpoint

#: One rank's share: its random generators and its non-finite tensors.
RankState = Tuple[Dict[str, Any], List[str]]


def _model(runner) -> nn.Module:
    """The model whose state a checkpoint holds (without DDP)."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def _to_cpu(state: Any) -> Any:
    return apply_to(state, lambda x: hasattr(x, 'cpu'), lambda x: x.cpu())


def gather_rank_states(model: nn.Module,
                       random_state: Dict[str, Any]) -> List[RankState]:
    """Every rank's random state and the names of its non-finite tensors.

    Called on every rank (``all_gather_object`` when distributed).
    """
    state = (random_state, nonfinite_tensors(model.state_dict()))
    return all_gather_object(state) if is_distributed() else [state]


def check_finite(states: List[RankState], path: str,
                 last_saved: Optional[str]) -> None:
    """Refuse to save a state holding NaN/Inf on any rank.

    Raises:
        TrainingDivergedError: naming the first tensors and the last
            complete checkpoint ``last_saved``.
    """
    bad = next((names for _, names in states if names), None)
    if bad:
        raise TrainingDivergedError(
            f'Training diverged: the model holds NaN/Inf in {len(bad)} '
            f'tensor(s) (first {bad[:3]}; BatchNorm statistics and EMA bases '
            f'count too), so {path} was not saved. '
            f'{TrainingDivergedError.advice(last_saved)}')


def build_checkpoint(runner,
                     meta: Dict[str, Any],
                     save_optimizer: bool = True,
                     save_param_scheduler: bool = True,
                     by_epoch: bool = True) -> Dict[str, Any]:
    """The checkpoint dict, as mmengine's ``Runner.save_checkpoint`` has it.

    ``meta`` (the caller's copy) gets the epoch and iteration, the config,
    seed, experiment name, time, mmengine version and the data set's meta.
    The ``before_save_checkpoint`` hooks have not run yet.
    """
    if by_epoch:  # saved at after_train_epoch, before epoch counts it
        meta.setdefault('epoch', runner.epoch + 1)
        meta.setdefault('iter', runner.iter)
    else:
        meta.setdefault('epoch', runner.epoch)
        meta.setdefault('iter', runner.iter + 1)
    meta.update(
        cfg=runner.cfg.pretty_text,
        seed=runner.seed,
        experiment_name=runner.experiment_name,
        time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
        mmengine_version=mmengine.__version__ + get_git_hash())
    dataset = runner.train_dataloader.dataset
    if hasattr(dataset, 'metainfo'):
        meta.update(dataset_meta=dataset.metainfo)
    checkpoint = dict(
        meta=meta,
        state_dict=weights_to_cpu(_model(runner).state_dict()),
        message_hub=_to_cpu(runner.message_hub.state_dict()))
    if save_optimizer:
        if not isinstance(runner.optim_wrapper, OptimWrapper):
            raise TypeError('self.optim_wrapper should be an `OptimWrapper` '
                            'or `OptimWrapperDict` instance, but got '
                            f'{runner.optim_wrapper}')
        checkpoint['optimizer'] = _to_cpu(runner.optim_wrapper.state_dict())
    if save_param_scheduler and runner.param_schedulers is None:
        runner.logger.warning(
            '`save_param_scheduler` is True but `self.param_schedulers` '
            'is None, so skip saving parameter schedulers')
        save_param_scheduler = False
    if save_param_scheduler:
        schedulers = runner.param_schedulers
        if isinstance(schedulers, dict):
            checkpoint['param_schedulers'] = {
                name: [s.state_dict() for s in group]
                for name, group in schedulers.items()}
        else:
            checkpoint['param_schedulers'] = [
                s.state_dict() for s in schedulers]
    return checkpoint


def write_checkpoint(checkpoint: Dict[str, Any], path: str,
                     last_saved: Optional[str],
                     file_client_args: Optional[dict] = None,
                     backend_args: Optional[dict] = None) -> None:
    """Write ``checkpoint`` to ``path``; a local file atomically.

    Other storage (``s3://`` ..., or ``file_client_args``) is left to
    mmengine's ``save_checkpoint``.

    Raises:
        WorkDirError: the local file cannot be written (full disk ...);
            the message names ``last_saved``, which stays intact.
    """
    backend = get_file_backend(path, backend_args=backend_args)
    if file_client_args is not None or \
            not isinstance(backend, LocalBackend):
        mmengine_save(checkpoint, path, file_client_args=file_client_args,
                      backend_args=backend_args)
        return
    try:
        with atomic_path(path) as tmp, io.BytesIO() as buffer:
            torch.save(checkpoint, buffer)
            backend.put(buffer.getvalue(), tmp)
    except OSError as err:
        raise write_error(path, err, last_saved) from err


def save_checkpoint(runner,
                    out_dir: str,
                    filename: str,
                    random_state: Dict[str, Any],
                    file_client_args: Optional[dict] = None,
                    save_optimizer: bool = True,
                    save_param_scheduler: bool = True,
                    meta: Optional[dict] = None,
                    by_epoch: bool = True,
                    backend_args: Optional[dict] = None) -> str:
    """Save the Runner's state as ``out_dir/filename``.

    Called on every rank: the random states are gathered and every rank's
    model is checked finite; only rank 0 builds and writes the file.

    Args:
        runner: the Runner (:class:`~emanet.engine.runner.SegRunner`).
        out_dir, filename: where to write.
        random_state: this rank's generators as training left them
            (:meth:`ValRandomStateHook.training_random_state`).
        file_client_args, save_optimizer, save_param_scheduler, meta,
            by_epoch, backend_args: as in mmengine's
            ``Runner.save_checkpoint``.

    Returns:
        str: the checkpoint's path.

    Raises:
        TrainingDivergedError: a parameter or buffer of some rank holds
            NaN/Inf; nothing is written.
        WorkDirError: the file cannot be written (full disk ...).
    """
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f'meta should be a dict or None, but got {type(meta)}')
    path = get_file_backend(out_dir, backend_args=backend_args).join_path(
        out_dir, filename)
    states = gather_rank_states(_model(runner), random_state)
    last_saved = last_saved_checkpoint(runner)
    check_finite(states, path, last_saved)
    if runner.rank != 0:
        return path
    meta = dict(meta or {})
    meta['random_state'] = [state for state, _ in states]
    checkpoint = build_checkpoint(runner, meta, save_optimizer,
                                  save_param_scheduler, by_epoch)
    runner.call_hook('before_save_checkpoint', checkpoint=checkpoint)
    write_checkpoint(checkpoint, path, last_saved, file_client_args,
                     backend_args)
    return path
