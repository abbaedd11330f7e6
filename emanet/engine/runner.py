"""mmengine Runner with safe loading, atomic saving and exact resume."""
import functools
import inspect
import io
import itertools
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather_object, is_distributed, master_only
from mmengine.evaluator import Evaluator
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.runner import Runner
from mmengine.utils.dl_utils import collect_env

from emanet.models.segmentors.unwrap import unwrap_segmentor
from emanet.registry import RUNNERS
from emanet.utils.atomic_io import atomic_path
from emanet.utils.benchmarking import device_description
from emanet.utils.determinism import allow_nondeterministic_cuda_ops
from emanet.utils.errors import (
    CheckpointError,
    ConfigError,
    TrainingDivergedError,
)

from .checkpoint_capture import CheckpointCaptured, CheckpointCaptureHook
from .checkpoint_fitting import nonfinite_tensors
from .checkpoint_loading import load_checkpoint_file, load_weights
from .dist_env import init_process_group
from .hooks import (
    CheckpointHook,
    FastInferenceHook,
    FinalValidationHook,
    InterruptHook,
    NonFiniteLossHook,
    ValRandomStateHook,
)
from .hooks.checkpoint_hook import LAST_SAVED_CKPT
from .hooks.fast_inference_hook import check_fast_inference_options
from .last_checkpoint import read_last_checkpoint
from .resume import RestoreRandomStateAfterSkip
from .work_dir import check_work_dir, write_error

# How a user loads partial weights on purpose (named in the refusal).
PARTIAL_HINT = ('set allow_partial_weights=True in the config '
                '(tools/train.py and tools/test.py: --allow-partial-weights)')
#: What the guarantees rest on besides the runner itself: registered with
#: their defaults when the config's ``custom_hooks`` lacks them.
GUARANTEE_HOOKS = (NonFiniteLossHook, InterruptHook, ValRandomStateHook,
                   FinalValidationHook)


@RUNNERS.register_module()
class SegRunner(Runner):
    """``Runner`` that the toolbox's configs select (``runner_type``).

    Differences from mmengine's ``Runner``:

    - checkpoints are read with ``torch.load(weights_only=True)`` and an
      allow-list of mmengine's types; files that are missing, not
      checkpoints, unsafe, or do not fit the model fail with a clear
      message (:mod:`.checkpoint_loading`, :mod:`.checkpoint_fitting`);
    - local checkpoints are written atomically (temporary file, fsync,
      rename);
    - checkpoints store every rank's random generators, restored on resume
      once the data loader has skipped the trained batches, and validation
      does not disturb the training generators, so a resumed run repeats
      an uninterrupted one exactly (given deterministic kernels);
    - weights for testing and ``load_from`` must fit the model exactly
      (no missing or unexpected keys) unless ``allow_partial_weights``;
      non-finite weights are refused;
    - a model state holding NaN/Inf (weights, BatchNorm statistics, EMA
      bases) is never saved: training stops naming the last finite
      checkpoint; a work dir or disk that cannot be written stops with
      one line naming the path;
    - a run resumed from its final checkpoint runs the final validation
      it missed;
    - the hooks these guarantees rest on (:data:`GUARANTEE_HOOKS`) are
      registered with their defaults when the config's ``custom_hooks``
      lacks them, with one log line naming them;
    - without CUDA, distributed runs use ``gloo`` and SyncBN becomes BN
      (one log line), as it does in a single process; the environment
      header says so (``dist_cfg`` with ``gloo``, the CPU and the number
      of processes instead of a GPU number);
    - a test or validation run dumps its config into its own log folder
      ``<work_dir>/<timestamp>/``; only training writes
      ``<work_dir>/<config name>.py``, so testing in the training work dir
      keeps the training config;
    - results of several processes are gathered in the run's log folder
      (removed once read), not in a ``.dist_test`` folder of the current
      directory.

    Args:
        *args, **kwargs: those of mmengine's ``Runner``.
        allow_partial_weights (bool): Load weights (``load_from``, testing)
            that lack some keys of the model or hold others. Config key
            ``allow_partial_weights``. Defaults to False.
        fast_inference (dict, optional): Validate and test on the inference
            fast path, with these :func:`emanet.deploy.prepare_for_inference`
            options (``{}`` for its defaults); see
            :class:`~emanet.engine.hooks.FastInferenceHook`. Config key
            ``fast_inference``. Defaults to None (the plain model).
    """

    # Class-level defaults: hooks may run before __init__ finishes.
    _resuming = False
    _resumed_meta: Dict[str, Any] = {}
    _building = False

    def __init__(self,
                 *args,
                 allow_partial_weights: bool = False,
                 fast_inference: Optional[dict] = None,
                 **kwargs) -> None:
        work_dir = kwargs['work_dir'] if 'work_dir' in kwargs else args[1]
        check_work_dir(osp.abspath(work_dir),
                       '--work-dir or work_dir in the config')
        if fast_inference is not None:  # fail before the model is built
            check_fast_inference_options(fast_inference)
        self.allow_partial_weights = allow_partial_weights
        self.fast_inference = fast_inference
        self._capture = CheckpointCaptureHook()
        args, kwargs = _with_env_cfg(args, kwargs, resolve_env_cfg)
        # mmengine dumps the config at the end of __init__, before it is
        # known whether this runner trains or tests: train/val/test do.
        self._building = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._building = False

    @classmethod
    def from_cfg(cls, cfg) -> 'SegRunner':
        """Build from a config: mmengine's keys plus this runner's own."""
        own = {key: cfg[key] for key in ('allow_partial_weights',
                                          'fast_inference') if key in cfg}
        # mmengine's from_cfg reads every key it knows and calls ``cls``.
        return Runner.from_cfg.__func__(functools.partial(cls, **own), cfg)

    @property
    def last_saved_checkpoint(self) -> Optional[str]:
        """The latest checkpoint written completely (or resumed from)."""
        return self.message_hub.get_info(LAST_SAVED_CKPT)

    def _set_last_saved_checkpoint(self, path: str) -> None:
        # Runtime info that hooks read too. Kept in checkpoints like the
        # rest of it (a resume sets it to the resumed file right after):
        # mmengine warns on resume about keys left out of them.
        self.message_hub.update_info(LAST_SAVED_CKPT, path)

    # Config dump ------------------------------------------------------------
    @master_only
    def dump_config(self, folder: Optional[str] = None) -> None:
        """Dump the config to ``folder`` (default: the work dir).

        As mmengine names it: the config file's base name, else
        ``<timestamp>.py``. Not while the runner is built:
        :meth:`train` dumps into the work dir, :meth:`val` and
        :meth:`test` into the run's log folder.
        """
        if self._building:
            return
        if self.cfg.filename is not None:
            filename = osp.basename(self.cfg.filename)
        else:
            filename = f'{self.timestamp}.py'
        self.cfg.dump(osp.join(folder or self.work_dir, filename))

    def val(self) -> dict:
        """Validate as mmengine does; the config goes to the log folder."""
        self.dump_config(self.log_dir)
        return super().val()

    def test(self) -> dict:
        """Test as mmengine does; the config goes to the log folder."""
        self.dump_config(self.log_dir)
        return super().test()

    # Distributed on CPU (gloo) ---------------------------------------------
    def _log_env(self, env_cfg: dict) -> None:
        """Log the environment as mmengine does, true without CUDA too.

        ``env_cfg`` holds the process group backend used
        (:func:`resolve_env_cfg`); without CUDA the device line names the
        CPU and the processes instead of a GPU number.
        """
        env = collect_env()
        runtime_env = OrderedDict(env_cfg)
        runtime_env.update(self._randomness_cfg)
        runtime_env['seed'] = self._seed
        runtime_env['Distributed launcher'] = self._launcher
        runtime_env['Distributed training'] = self._distributed
        if torch.cuda.is_available():
            runtime_env['GPU number'] = self._world_size
        else:
            runtime_env['Device'] = device_description('cpu')
            runtime_env['Processes'] = self._world_size
        lines = ['-' * 60, 'System environment:']
        lines += [f'    {k}: {v}' for k, v in env.items()]
        lines += ['', 'Runtime environment:']
        lines += [f'    {k}: {v}' for k, v in runtime_env.items()]
        lines.append('-' * 60)
        self.logger.info('\n' + '\n'.join(lines) + '\n')
        if self.cfg._cfg_dict:
            self.logger.info(f'Config:\n{self.cfg.pretty_text}')

    def build_evaluator(self, evaluator) -> Evaluator:
        """Build as mmengine does; metrics gathered through files (CPU)
        use a folder in the run's log folder.

        mmengine's default is ``.dist_test/`` in the current directory,
        left there (empty) after every multi-process evaluation. The log
        folder is shared by the processes as the work dir is; mmengine
        removes the gathering folder once rank 0 has read it.
        """
        evaluator = super().build_evaluator(evaluator)
        for i, metric in enumerate(evaluator.metrics):
            if getattr(metric, 'collect_device', None) == 'cpu' and \
                    getattr(metric, 'collect_dir', '') is None:
                metric.collect_dir = osp.join(self.log_dir,
                                              f'.collect_results_{i}')
        return evaluator

    def setup_env(self, env_cfg: Dict) -> None:
        """Set up like mmengine; start the process group here when needed
        (:func:`.dist_env.init_process_group`: gloo without CUDA)."""
        if self.launcher in ('pytorch', 'slurm') and not is_distributed():
            init_process_group(self.launcher, env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def set_randomness(self, seed, diff_rank_seed: bool = False,
                       deterministic: bool = False) -> None:
        """Seed as mmengine does; ``deterministic`` on CUDA also sets
        cuBLAS's workspace and lets the operations without a deterministic
        CUDA kernel warn (one log line names them) instead of raise."""
        super().set_randomness(seed, diff_rank_seed=diff_rank_seed,
                               deterministic=deterministic)
        if deterministic:
            allow_nondeterministic_cuda_ops()

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        """Wrap like mmengine; SyncBN needs CUDA and several processes.

        Without CUDA or in a single process SyncBN becomes BN (same state
        dict keys); on CPU, DDP gets ``device_ids=None``.
        """
        cuda = torch.cuda.is_available()
        if not (self.distributed and cuda) and not is_model_wrapper(model):
            has_sync_bn = any(
                isinstance(m, nn.SyncBatchNorm) for m in model.modules())
            model = revert_sync_batchnorm(model)
            if has_sync_bn:
                where = 'without CUDA' if not cuda else 'in a single process'
                self.logger.info(f'SyncBN replaced by BN: running {where}.')
        if self.distributed and not cuda and \
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

        Strict (every key of the model and no other) unless
        ``allow_partial_weights``; always strict when resuming.
        """
        strict = strict or self._resuming or not self.allow_partial_weights
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
        load_weights(unwrap_segmentor(self.model)[0], checkpoint, filename,
                     strict=strict,
                     partial_hint='' if self._resuming else PARTIAL_HINT,
                     revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def build_train_loop(self, loop):
        """Build the train loop; ``by_epoch=False`` without a ``type`` is
        this toolbox's :class:`~emanet.engine.loops.IterBasedTrainLoop`
        (mmengine would build its own class, bypassing the registry)."""
        if isinstance(loop, dict) and 'type' not in loop and \
                loop.get('by_epoch') is False:
            loop = {k: v for k, v in loop.items() if k != 'by_epoch'}
            loop['type'] = 'IterBasedTrainLoop'
        return super().build_train_loop(loop)

    def load_or_resume(self) -> None:
        """Load or resume as mmengine does.

        ``--resume`` without a path continues from the checkpoint that
        ``<work_dir>/last_checkpoint`` names relative to this work dir
        (:mod:`.last_checkpoint`), so a copied or moved work dir resumes
        from its own checkpoint.
        """
        if self._resume and self._load_from is None and \
                not self._has_loaded:
            hook = self._hook(CheckpointHook)
            out_dir = hook.out_dir if hook is not None else None
            self._load_from = read_last_checkpoint(
                self.work_dir, out_dir and osp.join(
                    out_dir, osp.basename(self.work_dir.rstrip(osp.sep))))
            if self._load_from is None:
                self._resume = False
                self.logger.info(f'No last_checkpoint in {self.work_dir}: '
                                 'training starts from the beginning.')
            else:
                self.logger.info(
                    f'Auto resumed from the latest checkpoint '
                    f'{self._load_from}.')
        super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        """Resume as mmengine does, plus the random generators."""
        self._resuming = True
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False
        self._set_last_saved_checkpoint(filename)
        loop = self._train_loop
        if loop.iter >= loop.max_iters:
            # Killed after the final checkpoint: nothing is left to train,
            # so the data loader need not skip the trained batches
            # (FinalValidationHook runs the validation that was missed).
            loop.dataloader_iterator = itertools.repeat(None)
            return
        states = self._resumed_meta.get('random_state')
        if not states or not hasattr(loop, 'dataloader_iterator'):
            return
        if len(states) != self.world_size:
            self.logger.warning(
                f'{filename} was written by {len(states)} process(es), this '
                f'run has {self.world_size}: the data order and the '
                'augmentations after the resume cannot repeat those of an '
                'uninterrupted run (each process reads another share of the '
                'data; random generators are not restored). Iterations, '
                'learning rate, weights and optimizer state continue.')
            return
        loop.dataloader_iterator = RestoreRandomStateAfterSkip(
            loop.dataloader_iterator, loop.iter, states[self.rank])

    # Saving ---------------------------------------------------------------
    def _gather_state(self) -> List[Tuple[Dict[str, Any], List[str]]]:
        """Every rank's random state and non-finite tensor names."""
        # During validation (best-checkpoint saves) the training state is
        # the one taken before validation started.
        random_state = self._hook(ValRandomStateHook).training_random_state()
        model = unwrap_segmentor(self.model)[0]
        state = (random_state, nonfinite_tensors(model.state_dict()))
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
            self._set_last_saved_checkpoint(path)
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
        self._set_last_saved_checkpoint(path)

    def _build_checkpoint(self, out_dir: str, filename: str,
                          kwargs: dict) -> dict:
        """The dict mmengine's ``save_checkpoint`` would write.

        Taken right after the ``before_save_checkpoint`` hooks
        (:mod:`.checkpoint_capture`); the caller writes it.
        """
        self._capture.armed = True
        try:
            super().save_checkpoint(out_dir, filename, **kwargs)
        except CheckpointCaptured as built:
            return built.checkpoint
        finally:
            self._capture.armed = False
        raise RuntimeError('mmengine saved without before_save_checkpoint')

    def train(self):
        """Train; signal handlers set by hooks are restored even on errors.

        The config is dumped into the work dir first, as mmengine does.
        """
        self.dump_config()
        try:
            return super().train()
        finally:
            for hook in self.hooks:
                if isinstance(hook, InterruptHook):
                    hook.restore_signal_handlers()

    # Hooks ----------------------------------------------------------------
    def register_hooks(self,
                       default_hooks: Optional[Dict] = None,
                       custom_hooks: Optional[List] = None) -> None:
        """Register the config's hooks, then those it lacks and needs.

        A config whose ``custom_hooks`` leaves out a hook the guarantees
        rest on (:data:`GUARANTEE_HOOKS`) still gets it, with its defaults,
        and one log line names it; ``fast_inference`` adds a
        :class:`FastInferenceHook`.
        """
        super().register_hooks(default_hooks, custom_hooks)
        missing = [cls for cls in GUARANTEE_HOOKS if self._hook(cls) is None]
        for cls in missing:
            self.register_hook(cls())
        if missing:
            names = ', '.join(cls.__name__ for cls in missing)
            self.logger.info(f'custom_hooks lacks {names}, which the '
                             'guarantees of SegRunner need: added with '
                             'default arguments.')
        if self.fast_inference is not None:
            if self._hook(FastInferenceHook) is not None:
                raise ConfigError(
                    'fast_inference and a FastInferenceHook in custom_hooks '
                    'both ask for the fast path; keep one')
            self.register_hook(FastInferenceHook(self.fast_inference))
        self.register_hook(self._capture)  # after every other hook

    def _hook(self, cls: type) -> Optional[Hook]:
        """The first registered hook of type ``cls``, if any."""
        return next((h for h in self.hooks if isinstance(h, cls)), None)


def resolve_env_cfg(env_cfg: Optional[dict]) -> dict:
    """``env_cfg`` with the process group backend that will be used.

    Without CUDA, :func:`.dist_env.init_process_group` starts ``gloo``
    where the config asks for ``nccl`` (mmengine's default): the copy says
    ``gloo`` so the logged environment tells the truth.

    Args:
        env_cfg: the config's ``env_cfg``; None for mmengine's default
            (``dist_cfg=dict(backend='nccl')``).

    Returns:
        dict: a copy, ``dist_cfg.backend`` resolved.
    """
    env_cfg = dict(env_cfg if env_cfg is not None else
                   dict(dist_cfg=dict(backend='nccl')))
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    if not torch.cuda.is_available() and \
            dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    return env_cfg


# Position of ``env_cfg`` among Runner's positional arguments.
_ENV_CFG_INDEX = list(
    inspect.signature(Runner.__init__).parameters).index('env_cfg') - 1


def _with_env_cfg(args: tuple, kwargs: dict,
                  resolve) -> Tuple[tuple, dict]:
    """Runner arguments with ``env_cfg`` passed through ``resolve``."""
    kwargs = dict(kwargs)
    if len(args) > _ENV_CFG_INDEX:
        args = list(args)
        args[_ENV_CFG_INDEX] = resolve(args[_ENV_CFG_INDEX])
        return tuple(args), kwargs
    kwargs['env_cfg'] = resolve(kwargs.get('env_cfg'))
    return args, kwargs
