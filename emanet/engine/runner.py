"""mmengine Runner with safe loading, atomic saving and exact resume."""
import io
import itertools
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.dist import all_gather_object, is_distributed
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from emanet.registry import RUNNERS
from emanet.utils.checkpoint import (
    atomic_path,
    check_state_dict_fits,
    check_work_dir,
    get_state_dict,
    load_checkpoint_file,
    nonfinite_tensors,
    write_error,
)
from emanet.utils.errors import CheckpointError, TrainingDivergedError
from emanet.utils.random_state import get_random_state, set_random_state

# How a user loads partial weights on purpose (named in the refusal).
PARTIAL_HINT = ('set allow_partial_weights=True in the config '
                '(tools/train.py and tools/test.py: --allow-partial-weights)')


class _CheckpointBuilt(Exception):
    """Carries the assembled checkpoint out of mmengine's save."""

    def __init__(self, checkpoint: dict) -> None:
        super().__init__()
        self.checkpoint = checkpoint


class _RestoreRandomStateAfterSkip:
    """Wraps the train loop's data iterator on resume.

    mmengine's ``IterBasedTrainLoop`` resumes the data order by drawing (and
    discarding) ``iter`` batches. Drawing them also advances the random
    generators differently from the original run (which ran the model in
    between), so the generators saved at the checkpoint are restored right
    before the first batch that is trained on.
    """

    def __init__(self, iterator: Iterator, skip: int,
                 state: Dict[str, Any]) -> None:
        self._iterator = iterator
        self._skip = skip
        self._state: Optional[Dict[str, Any]] = state
        self._count = 0

    def __iter__(self) -> '_RestoreRandomStateAfterSkip':
        return self

    def __next__(self) -> Any:
        if self._count == self._skip and self._state is not None:
            set_random_state(self._state)
            self._state = None
        self._count += 1
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        if name == '_iterator':  # not set yet (copy / pickle)
            raise AttributeError(name)
        return getattr(self._iterator, name)


@RUNNERS.register_module()
class SegRunner(Runner):
    """``Runner`` that the toolbox's configs select (``runner_type``).

    Differences from mmengine's ``Runner``:

    - checkpoints are read with ``torch.load(weights_only=True)`` and an
      allow-list of mmengine's types; files that are missing, not
      checkpoints, unsafe, or do not fit the model fail with a clear
      message (:mod:`emanet.utils.checkpoint`);
    - local checkpoints are written atomically (temporary file, fsync,
      rename);
    - checkpoints store every rank's random generators, restored on resume
      once the data loader has skipped the trained batches, and validation
      does not disturb the training generators, so a resumed run repeats
      an uninterrupted one exactly (given deterministic kernels);
    - weights for testing and ``load_from`` must fit the model exactly
      (no missing or unexpected keys) unless the config sets
      ``allow_partial_weights=True``; non-finite weights are refused;
    - a model state holding NaN/Inf (weights, BatchNorm statistics, EMA
      bases) is never saved: training stops naming the last finite
      checkpoint; a work dir or disk that cannot be written stops with
      one line naming the path;
    - a run resumed from its final checkpoint runs the final validation
      it missed.
    """

    # Class-level defaults: hooks may run before __init__ finishes.
    _resuming = False
    _resumed_meta: Dict[str, Any] = {}
    _val_random_state: Optional[Dict[str, Any]] = None
    _validate_at_end = False
    #: The latest checkpoint written completely (or resumed from).
    last_saved_checkpoint: Optional[str] = None

    def __init__(self, *args, **kwargs) -> None:
        work_dir = kwargs['work_dir'] if 'work_dir' in kwargs else args[1]
        check_work_dir(osp.abspath(work_dir),
                       '--work-dir or work_dir in the config')
        super().__init__(*args, **kwargs)

    # Distributed on CPU (gloo) ---------------------------------------------
    def setup_env(self, env_cfg: Dict) -> None:
        """Set up like mmengine; without CUDA, start the process group here.

        mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails
        on CPU-only builds; torchrun's environment is all gloo needs.
        """
        if self.launcher == 'pytorch' and not torch.cuda.is_available() \
                and not is_distributed():
            backend = env_cfg.get('dist_cfg', {}).get('backend', 'gloo')
            torch_dist.init_process_group(
                backend='gloo' if backend == 'nccl' else backend)
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        """Wrap like mmengine; on CPU, DDP gets ``device_ids=None``."""
        if self.distributed and not torch.cuda.is_available() and \
                model_wrapper_cfg is None and not is_model_wrapper(model):
            model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get(
                    'find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    # Loading --------------------------------------------------------------
    def load_checkpoint(self,
                        filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = False,
                        revise_keys: Optional[list] = None) -> dict:
        """Load weights (``load_from``, test) or a whole state (resume).

        Strict (every key of the model and no other) unless the config sets
        ``allow_partial_weights=True``; always strict when resuming.
        """
        strict = strict or self._resuming or not self.cfg.get(
            'allow_partial_weights', False)
        if revise_keys is None:
            revise_keys = [(r'^module.', '')]
        checkpoint = load_checkpoint_file(filename, map_location)
        if self._resuming:
            meta = checkpoint.get('meta')
            if not isinstance(meta, dict) or 'iter' not in meta or \
                    'message_hub' not in checkpoint:
                raise CheckpointError(
                    f'{filename} holds weights but no training state '
                    '(meta.iter, message_hub), so training cannot resume '
                    'from it; start from its weights with --load-from '
                    'instead.')
            self._resumed_meta = meta
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        # The segmentor inside a DDP wrapper or a SegTTAModel (--aug-test).
        wrapped = is_model_wrapper(self.model) or isinstance(
            self.model, BaseTTAModel)
        model = self.model.module if wrapped else self.model
        check_state_dict_fits(
            model, get_state_dict(checkpoint, revise_keys), filename,
            strict=strict,
            partial_hint='' if self._resuming else PARTIAL_HINT)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        """Resume as mmengine does, plus the random generators."""
        self._resuming = True
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False
        self.last_saved_checkpoint = filename
        loop = self._train_loop
        if loop.iter >= loop.max_iters:
            # Killed after the final checkpoint, which is written before
            # the final validation: validate now. Nothing is left to train,
            # so the data loader need not skip the trained batches.
            self._validate_at_end = self._val_loop is not None
            loop.dataloader_iterator = itertools.repeat(None)
            return
        states = self._resumed_meta.get('random_state')
        if not states or not hasattr(loop, 'dataloader_iterator'):
            return
        if len(states) != self.world_size:
            self.logger.warning(
                f'{filename} was written by {len(states)} process(es), this '
                f'run has {self.world_size}: random generators are not '
                'restored, so augmentations after the resume differ from an '
                'uninterrupted run.')
            return
        loop.dataloader_iterator = _RestoreRandomStateAfterSkip(
            loop.dataloader_iterator, loop.iter, states[self.rank])

    # Saving ---------------------------------------------------------------
    def _gather_state(self) -> List[Tuple[Dict[str, Any], List[str]]]:
        """Every rank's random state and non-finite tensor names."""
        # During validation (best-checkpoint saves) the training state is
        # the one taken before validation started.
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        state = (self._val_random_state or get_random_state(),
                 nonfinite_tensors(model.state_dict()))
        if is_distributed():
            return all_gather_object(state)
        return [state]

    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save like mmengine; local files are written atomically.

        Called on every rank (the random states are gathered); only rank 0
        writes.

        Raises:
            TrainingDivergedError: A parameter or buffer of some rank holds
                NaN/Inf; nothing is written.
            WorkDirError: The file cannot be written (full disk ...).
        """
        backend = get_file_backend(out_dir, backend_args=backend_args)
        path = backend.join_path(out_dir, filename)
        gathered = self._gather_state()
        bad = next((names for _, names in gathered if names), None)
        if bad:
            raise TrainingDivergedError(
                f'Training diverged: the model holds NaN/Inf in '
                f'{len(bad)} tensor(s) (first '
                f'{bad[:3]}; BatchNorm statistics and EMA bases count too), '
                f'so {path} was not saved. '
                f'{TrainingDivergedError.advice(self.last_saved_checkpoint)}')
        meta = dict(meta or {})
        meta['random_state'] = [state for state, _ in gathered]
        if self.rank != 0:
            self.last_saved_checkpoint = path
            return
        kwargs = dict(
            file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=backend_args)
        if file_client_args is not None or \
                not isinstance(backend, LocalBackend):
            super().save_checkpoint(out_dir, filename, **kwargs)
        else:
            try:
                checkpoint = self._build_checkpoint(out_dir, filename, kwargs)
                with atomic_path(path) as tmp, io.BytesIO() as buffer:
                    torch.save(checkpoint, buffer)
                    backend.put(buffer.getvalue(), tmp)
            except OSError as err:
                raise write_error(
                    path, err, self.last_saved_checkpoint) from err
        self.last_saved_checkpoint = path

    def _build_checkpoint(self, out_dir: str, filename: str,
                          kwargs: dict) -> dict:
        """The dict mmengine's ``save_checkpoint`` would write.

        mmengine assembles it, runs the ``before_save_checkpoint`` hooks and
        then writes it through a deprecated ``FileClient`` (two deprecation
        warnings per save, and no atomic rename). The dict is taken right
        after the hooks, and the caller writes it.
        """
        self._capture_checkpoint = True
        try:
            super().save_checkpoint(out_dir, filename, **kwargs)
        except _CheckpointBuilt as built:
            return built.checkpoint
        finally:
            self._capture_checkpoint = False
        raise RuntimeError('mmengine saved without before_save_checkpoint')

    def train(self):
        """Train; signal handlers set by hooks are restored even on errors."""
        try:
            return super().train()
        finally:
            self.call_hook('restore_signal_handlers')

    # Hooks ----------------------------------------------------------------
    def call_hook(self, fn_name: str, **kwargs) -> None:
        """Call hooks; keep validation from moving the training generators.

        Validation draws random numbers (e.g. when its data loader starts),
        which would otherwise make training after a validation differ from
        a run resumed at that point.
        """
        if fn_name == 'after_train_epoch' and self._validate_at_end:
            self._validate_at_end = False
            self.val_loop.run()
        if fn_name == 'before_val':
            self._val_random_state = get_random_state()
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint' and getattr(
                self, '_capture_checkpoint', False):
            raise _CheckpointBuilt(kwargs['checkpoint'])
        if fn_name == 'after_val' and self._val_random_state is not None:
            set_random_state(self._val_random_state)
            self._val_random_state = None
