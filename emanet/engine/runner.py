"""mmengine Runner with safe loading, atomic saving and exact resume."""
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional

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
    CheckpointError,
    atomic_path,
    check_state_dict_fits,
    get_state_dict,
    load_checkpoint_file,
)
from emanet.utils.random_state import get_random_state, set_random_state


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
      an uninterrupted one exactly (given deterministic kernels).
    """

    # Class-level defaults: hooks may run before __init__ finishes.
    _resuming = False
    _resumed_meta: Dict[str, Any] = {}
    _val_random_state: Optional[Dict[str, Any]] = None

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
        """Load weights (``load_from``, test) or a whole state (resume)."""
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
            strict=strict or self._resuming)
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
        states = self._resumed_meta.get('random_state')
        loop = self._train_loop
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
    def _gather_random_state(self) -> List[Dict[str, Any]]:
        # During validation (best-checkpoint saves) the training state is
        # the one taken before validation started.
        state = self._val_random_state or get_random_state()
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
        """
        meta = dict(meta or {})
        meta['random_state'] = self._gather_random_state()
        if self.rank != 0:
            return
        kwargs = dict(
            file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=backend_args)
        backend = get_file_backend(out_dir, backend_args=backend_args)
        if file_client_args is not None or \
                not isinstance(backend, LocalBackend):
            super().save_checkpoint(out_dir, filename, **kwargs)
            return
        with atomic_path(osp.join(out_dir, filename)) as tmp:
            super().save_checkpoint(
                osp.dirname(tmp), osp.basename(tmp), **kwargs)

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
        if fn_name == 'before_val':
            self._val_random_state = get_random_state()
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'after_val' and self._val_random_state is not None:
            set_random_state(self._val_random_state)
            self._val_random_state = None
