"""mmengine's Runner with safe loading, atomic saving and exact resume.

Each method is a short delegation: a checkpoint's life is in
:mod:`emanet.engine.checkpoint`, the machine's in :mod:`.environment` and
:mod:`.dist_env`, the guarantees' hooks in :mod:`.hooks`.
"""
import os.path as osp
from typing import Any, Dict, List, Optional

import torch.nn as nn
from mmengine.dist import is_distributed, master_only
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner

from emanet.models.segmentors.unwrap import unwrap_segmentor
from emanet.registry import RUNNERS
from emanet.utils.determinism import allow_nondeterministic_cuda_ops

from . import environment
from .checkpoint import last_checkpoint, loading, resume, saving
from .dist_env import init_process_group
from .hooks import (
    CheckpointHook,
    ProgressBarHook,
    ValRandomStateHook,
    guarantees,
)
from .hooks.fast_inference_hook import check_fast_inference_options
from .loops import train_loop_cfg
from .work_dir import check_work_dir, shared_log_dir_name


@RUNNERS.register_module()
class SegRunner(Runner):
    """``Runner`` that the toolbox's configs select (``runner_type``).

    mmengine's ``Runner`` plus the guarantees of the README, each a short
    delegation: checkpoints read safely, fitting the model and finite,
    saved atomically with every rank's random state, resumed exactly
    (:mod:`emanet.engine.checkpoint`); the hooks the guarantees rest on
    added when ``custom_hooks`` lacks them (:mod:`.hooks.guarantees`);
    ``gloo``, DDP on CPU and BN for SyncBN without CUDA, said so in the
    environment header (:mod:`.environment`); a log folder
    ``<work_dir>/<timestamp>/`` of each run's own, which also gets the
    config of test and validation runs and the gathered results of
    several processes (only training dumps ``<work_dir>/<config>.py``).

    Args:
        model, work_dir, **kwargs: mmengine's ``Runner`` arguments, by
            keyword (as ``Runner.from_cfg`` passes them).
        allow_partial_weights (bool, optional): Load weights (``load_from``,
            testing) that lack some keys of the model or hold others.
            Defaults to the config's ``allow_partial_weights``, else False.
        fast_inference (dict, optional): Validate and test on the inference
            fast path with these :func:`emanet.deploy.prepare_for_inference`
            options (``{}``: its defaults; :class:`.hooks.FastInferenceHook`).
            Defaults to the config's ``fast_inference``, else None.
    """

    _resuming = False  # hooks may run before __init__ finishes

    def __init__(self, model: Any, work_dir: str, *,
                 allow_partial_weights: Optional[bool] = None,
                 fast_inference: Optional[dict] = None, **kwargs) -> None:
        check_work_dir(osp.abspath(work_dir),
                       '--work-dir or work_dir in the config')
        # Runner.from_cfg passes mmengine's keys only: this runner reads its
        # own from the config, as mmengine reads model_wrapper_cfg.
        cfg = kwargs.get('cfg') or {}
        if allow_partial_weights is None:
            allow_partial_weights = cfg.get('allow_partial_weights', False)
        if fast_inference is None:
            fast_inference = cfg.get('fast_inference')
        if fast_inference is not None:  # fail before the model is built
            check_fast_inference_options(fast_inference)
        self.allow_partial_weights = allow_partial_weights
        self.fast_inference = fast_inference
        super().__init__(model, work_dir, **kwargs)

    # Records ----------------------------------------------------------------
    @master_only
    def dump_config(self, folder: Optional[str] = None) -> None:
        """Dump the config into ``folder``, named as mmengine names it;
        nothing without ``folder`` (mmengine's call in ``__init__``, before
        the runner knows whether it trains or tests)."""
        if folder is None:
            return
        if self.cfg.filename is not None:
            filename = osp.basename(self.cfg.filename)
        else:
            filename = f'{self.timestamp}.py'
        self.cfg.dump(osp.join(folder, filename))

    # mmengine logs the environment only here, from __init__; the header
    # must name the backend and the device really used.
    def _log_env(self, env_cfg: dict) -> None:
        environment.log_environment(self, env_cfg, self._randomness_cfg)

    def build_evaluator(self, evaluator) -> Evaluator:
        """Build as mmengine does; metrics gathered through files use a
        folder of the log folder (:func:`.environment.gather_in_log_dir`)."""
        return environment.gather_in_log_dir(
            super().build_evaluator(evaluator), self.log_dir)

    # Machine ----------------------------------------------------------------
    def setup_env(self, env_cfg: Dict) -> None:
        """Set up like mmengine; start the process group here when needed
        (:func:`.dist_env.init_process_group`: gloo without CUDA); the log
        folder is this run's alone (:func:`.work_dir.claim_log_dir`), the
        same on every rank."""
        if self.launcher in ('pytorch', 'slurm') and not is_distributed():
            init_process_group(self.launcher, env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)
        # mmengine names the log folder, log file and experiment after the
        # timestamp it just set, with no public setter: every rank takes
        # the folder rank 0 claimed.
        self._timestamp = shared_log_dir_name(self._work_dir,
                                              self._timestamp, self.rank)

    def set_randomness(self, seed, diff_rank_seed: bool = False,
                       deterministic: bool = False) -> None:
        """Seed as mmengine does; ``deterministic`` on CUDA also lets the
        operations without a deterministic kernel warn (one log line)."""
        super().set_randomness(seed, diff_rank_seed=diff_rank_seed,
                               deterministic=deterministic)
        if deterministic:
            allow_nondeterministic_cuda_ops()

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        """Wrap like mmengine; SyncBN becomes BN without CUDA or in one
        process, and DDP on CPU gets no device (:mod:`.environment`)."""
        model = environment.revert_unsupported_sync_bn(
            model, self.distributed, self.logger)
        model_wrapper_cfg = environment.cpu_wrapper_cfg(
            model_wrapper_cfg, model, self.distributed,
            self.cfg.get('find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    # Checkpoints ------------------------------------------------------------
    def load_checkpoint(self,
                        filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = False,
                        revise_keys: Optional[list] = None) -> dict:
        """Load weights (``load_from``, test) or a whole state (resume).

        Strict (every key of the model and no other) unless
        ``allow_partial_weights``; always strict when resuming.
        """
        checkpoint = loading.load_checkpoint_file(filename, map_location)
        if self._resuming:
            self._resumed_meta = resume.resumable_meta(checkpoint, filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        loading.load_weights(
            unwrap_segmentor(self.model)[0], checkpoint, filename,
            strict=strict or self._resuming or not self.allow_partial_weights,
            partial_hint='' if self._resuming else loading.PARTIAL_HINT,
            revise_keys=[(r'^module.', '')] if revise_keys is None
            else revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """Load or resume as mmengine does; ``--resume`` without a path
        follows ``<work_dir>/last_checkpoint`` relative to this work dir
        (:func:`.checkpoint.last_checkpoint.checkpoint_to_resume`)."""
        if self._resume and self._load_from is None and \
                not self._has_loaded:
            hook = self._hook(CheckpointHook)
            self._load_from = last_checkpoint.checkpoint_to_resume(
                self.work_dir, hook and hook.out_dir, self.logger)
            self._resume = self._load_from is not None
        super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        """Resume as mmengine does, plus the random generators
        (:func:`.checkpoint.resume.restore_random_state`)."""
        self._resuming = True
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False
        last_checkpoint.record_checkpoint(self, filename, resumed=True)
        resume.restore_random_state(self, self._resumed_meta, filename)

    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save like mmengine, called on every rank: every rank's random
        state as training left it, only finite states, atomic local files
        (:func:`.checkpoint.saving.save_checkpoint`)."""
        random_state = self._hook(ValRandomStateHook).training_random_state()
        saving.save_checkpoint(self, out_dir, filename, random_state,
                               file_client_args, save_optimizer,
                               save_param_scheduler, meta, by_epoch,
                               backend_args)

    # Running ----------------------------------------------------------------
    def build_train_loop(self, loop):
        """Build as mmengine does, through the registry
        (:func:`.loops.train_loop_cfg`)."""
        return super().build_train_loop(train_loop_cfg(loop))

    def train(self) -> nn.Module:
        """Train as mmengine does, after dumping the config into the work
        dir; signal handlers set by hooks are restored even on errors."""
        self.dump_config(self.work_dir)
        try:
            return super().train()
        finally:
            guarantees.restore_signal_handlers(self.hooks)

    def val(self) -> dict:
        """Validate as mmengine does; the config goes to the log folder."""
        self.dump_config(self.log_dir)
        return super().val()

    def test(self) -> dict:
        """Test as mmengine does; the config goes to the log folder. On an
        error the progress bar ends before the error's message is shown
        (mmengine's hooks hear of no error)."""
        self.dump_config(self.log_dir)
        try:
            return super().test()
        finally:
            for bar in self.hooks:
                if isinstance(bar, ProgressBarHook):
                    bar.close()

    # Hooks ------------------------------------------------------------------
    def register_hooks(self,
                       default_hooks: Optional[Dict] = None,
                       custom_hooks: Optional[List] = None) -> None:
        """Register the config's hooks, then those the guarantees need
        (:func:`.hooks.guarantees.add_guarantee_hooks`)."""
        super().register_hooks(default_hooks, custom_hooks)
        guarantees.add_guarantee_hooks(self, self.fast_inference)

    def _hook(self, cls: type) -> Any:
        """The first registered hook of type ``cls``, if any."""
        return next((h for h in self.hooks if isinstance(h, cls)), None)
