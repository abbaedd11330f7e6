"""A training run from the options of ``tools/train.py``.

:func:`build_train_cfg` turns the options into the config mmengine's
Runner trains with (mixed precision, resume or initial weights, seed and
determinism), :func:`check_inputs` checks what the run reads and writes
before the Runner is built, :func:`val_metrics` reads the metrics of the
last validation back.
"""
import argparse
import dataclasses
import logging
from typing import Any, Dict, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from emanet.config import load_config, work_dir_source
from emanet.config.amp_device import check_amp_device
from emanet.engine.checkpoint.last_checkpoint import (
    checked_checkpoint_to_resume,
)
from emanet.engine.optim_wrappers import amp_optim_wrapper_cfg
from emanet.engine.work_dir import check_work_dir
from emanet.utils.determinism import set_cublas_workspace
from emanet.utils.errors import ConfigError

from .tool_run import prepare_tool_run


@dataclasses.dataclass(frozen=True)
class SegTrainOptions:
    """What a training run is asked for: ``tools/train.py``'s options.

    Attributes:
        config: the config file.
        work_dir: the work dir (default: the config's, or
            ``work_dirs/<config name>``).
        resume: a checkpoint to resume from, ``'auto'`` for the latest in
            the work dir, or None.
        load_from: a checkpoint to initialise the weights from.
        allow_partial_weights: load a checkpoint that does not fit whole.
        amp: None, or the mixed precision: ``'auto'``, ``'fp16'``,
            ``'bf16'``.
        cfg_options, launcher: config overrides; the job launcher.
        seed, deterministic: the random seed; deterministic algorithms.
    """

    config: str
    work_dir: Optional[str] = None
    resume: Optional[str] = None
    load_from: Optional[str] = None
    allow_partial_weights: bool = False
    amp: Optional[str] = None
    cfg_options: Optional[Dict[str, Any]] = None
    launcher: str = 'none'
    seed: Optional[int] = None
    deterministic: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> 'SegTrainOptions':
        """The options of a parsed command line, by their names."""
        return cls(**{field.name: vars(args)[field.name]
                      for field in dataclasses.fields(cls)})


def enable_amp(cfg: Config, dtype: str = 'auto') -> None:
    """Switch the optimizer wrapper to mixed precision.

    CUDA: mmengine's ``AmpOptimWrapper``, float16 with dynamic loss scaling
    (mmsegmentation's ``--amp``), or with ``dtype='bf16'`` bfloat16 without
    loss scaling. CPU: ``CPUAmpOptimWrapper``, bfloat16 autocast where
    native, else float32 (:func:`emanet.engine.amp_optim_wrapper_cfg`).
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        # What --amp asks for is on already: a note, not a warning; only
        # a different explicit dtype is something to act on.
        names = {'bf16': 'bfloat16', 'bfloat16': 'bfloat16',
                 'fp16': 'float16', 'float16': 'float16'}
        default = 'bfloat16' if wrapper == 'CPUAmpOptimWrapper' \
            else 'float16'
        have = names.get(str(cfg.optim_wrapper.get('dtype') or default)
                         .replace('torch.', ''), 'float32')
        want = names.get(dtype)
        if want is None or want == have:
            print_log(f'--amp: the config\'s {wrapper} already trains in '
                      f'mixed precision ({have}).', logger='current',
                      level=logging.INFO)
        else:
            print_log(f'--amp {dtype} not applied: the config\'s {wrapper} '
                      f'trains in {have}; set optim_wrapper.dtype='
                      f'{want} to change it.', logger='current',
                      level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ConfigError(
            f'--amp needs optim_wrapper.type=OptimWrapper, got {wrapper!r} '
            'in the config; drop --amp or set optim_wrapper.type')
    device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg.optim_wrapper = amp_optim_wrapper_cfg(cfg.optim_wrapper, device_type,
                                              dtype)


def build_train_cfg(options: SegTrainOptions) -> Config:
    """The config of the training run ``options`` ask for."""
    cfg = load_config(options.config, options.cfg_options, options.work_dir)
    if options.amp:
        enable_amp(cfg, options.amp)
    check_amp_device(cfg)  # AmpOptimWrapper without a GPU: one line
    if options.load_from is not None:
        cfg.load_from = options.load_from
    if options.allow_partial_weights:
        cfg.allow_partial_weights = True
    if options.resume == 'auto':
        # mmengine finds the latest checkpoint in work_dir when load_from
        # is None.
        cfg.resume = True
        cfg.load_from = None
    elif options.resume is not None:
        cfg.resume = True
        cfg.load_from = options.resume
    if options.seed is not None or options.deterministic:
        randomness = dict(cfg.get('randomness') or {})
        if options.seed is not None:
            randomness['seed'] = options.seed
        if options.deterministic:
            randomness['deterministic'] = True
        cfg.randomness = randomness
    if (cfg.get('randomness') or {}).get('deterministic'):
        set_cublas_workspace()  # read when cuBLAS starts: before the model
    cfg.launcher = options.launcher
    return cfg


def check_inputs(cfg: Config, options: SegTrainOptions) -> None:
    """Check the files the run reads and writes before the Runner is
    built.

    The Runner logs the environment and the whole config first; a wrong
    checkpoint (also one that ``--resume`` would take from the work dir's
    record but that was deleted), work dir or data path is named in one
    line before that, and nothing is created for a wrong checkpoint. Demo
    data missing at its ``data_root`` is generated here.
    """
    if options.resume not in (None, 'auto'):
        what = '--resume checkpoint'
    elif options.load_from is not None:
        what = '--load-from checkpoint'
    else:
        what = 'load_from checkpoint'
    # init_weights reads the pretrained file in train(); both are checked
    # before the work dir is created.
    prepare_tool_run(cfg, model_file=cfg.get('load_from') or None,
                     model_what=what, pretrained=True, scope=False)
    if cfg.get('resume') and not cfg.get('load_from'):
        # --resume without a path: the work dir's record must name a
        # checkpoint that still exists.
        checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
        checked_checkpoint_to_resume(
            cfg.work_dir, (checkpoint or {}).get('out_dir'))
    check_work_dir(cfg.work_dir,
                   work_dir_source(cfg, options.config, options.work_dir))
    validates = cfg.get('val_cfg') and cfg.get('val_dataloader')
    # the data sets only read: missing demo data is generated here
    prepare_tool_run(cfg, demo_data=True, scope=False,
                     splits=('train', 'val') if validates else ('train', ))


def val_metrics(runner: Runner) -> Dict[str, float]:
    """The metrics of the last validation, from the runner's message hub."""
    return {
        key[len('val/'):]: buf.current()
        for key, buf in runner.message_hub.log_scalars.items()
        if key.startswith('val/')
    }
