"""Train a segmentor from a config with mmengine's Runner.

Example::

    python tools/train.py configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py
"""  # noqa: E501
import argparse
import logging
import os
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import build_runner
from emanet.apis.early_checks import (
    check_data_folders,
    check_model_file,
    check_pretrained_file,
)
from emanet.apis.tool_run import prepare_demo_data
from emanet.config import CfgOptionsAction, load_config, work_dir_source
from emanet.config.amp_device import check_amp_device
from emanet.engine import amp_optim_wrapper_cfg
from emanet.engine.work_dir import check_work_dir
from emanet.utils.determinism import set_cublas_workspace
from emanet.utils.errors import DEBUG_HELP, ConfigError, run_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--work-dir',
        help='folder for logs and checkpoints '
        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='PATH',
        help='resume from PATH, or without PATH from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--load-from', help='initialise weights from this checkpoint')
    parser.add_argument(
        '--allow-partial-weights',
        action='store_true',
        help='with --load-from (or load_from in the config): load a '
        'checkpoint that lacks some weights of the model or holds others '
        '(e.g. a backbone only) and keep the rest as initialised; without '
        'it such a checkpoint is refused, naming the keys. Same as '
        'allow_partial_weights=True in the config')
    parser.add_argument(
        '--amp',
        nargs='?',
        const='auto',
        choices=['auto', 'fp16', 'bf16'],
        help='mixed precision (put it after CONFIG). CUDA: float16 with '
        'dynamic loss scaling, as mmsegmentation; --amp bf16: bfloat16 '
        'without loss scaling (Ampere or later; float32 where the GPU '
        'would emulate it). CPU: bfloat16 where the CPU computes it '
        'natively, else float32 (EMANET_FORCE_BF16=1 forces bfloat16); '
        'fp16 needs CUDA')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys, e.g. train_cfg.max_iters=100 or '
        'train_dataloader.dataset.pipeline.3.crop_size="(64,128)"')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher')
    parser.add_argument('--seed', type=int, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (slower). On CUDA it also sets '
        'CUBLAS_WORKSPACE_CONFIG=:4096:8 (unless set) and lets the '
        'bilinear-resize backward, which has no deterministic CUDA kernel, '
        'warn: a resumed run repeats the data order, augmentations and '
        'random states, and is bit-identical on CPU only')
    # torchrun / torch.distributed.launch pass --local-rank or --local_rank.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


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


def setup_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    if args.amp:
        enable_amp(cfg, args.amp)
    check_amp_device(cfg)  # AmpOptimWrapper without a GPU: one line
    if args.load_from is not None:
        cfg.load_from = args.load_from
    if args.allow_partial_weights:
        cfg.allow_partial_weights = True
    if args.resume == 'auto':
        # mmengine finds the latest checkpoint in work_dir when load_from
        # is None.
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.seed is not None or args.deterministic:
        randomness = dict(cfg.get('randomness') or {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        if args.deterministic:
            randomness['deterministic'] = True
        cfg.randomness = randomness
    if (cfg.get('randomness') or {}).get('deterministic'):
        set_cublas_workspace()  # read when cuBLAS starts: before the model
    cfg.launcher = args.launcher
    return cfg


def check_inputs(cfg: Config, args: argparse.Namespace) -> None:
    """Check the files the run reads and writes before the Runner is
    built.

    The Runner logs the environment and the whole config first; a wrong
    checkpoint, work dir or data path is named in one line before that,
    and nothing is created for a wrong checkpoint. Demo data missing at
    its ``data_root`` is generated here.
    """
    if cfg.get('load_from'):
        if args.resume not in (None, 'auto'):
            what = '--resume checkpoint'
        elif args.load_from is not None:
            what = '--load-from checkpoint'
        else:
            what = 'load_from checkpoint'
        check_model_file(cfg.load_from, what)
    check_pretrained_file(cfg.model)  # init_weights reads it in train()
    check_work_dir(cfg.work_dir,
                   work_dir_source(cfg, args.config, args.work_dir))
    prepare_demo_data(cfg)  # the data sets only read
    validates = cfg.get('val_cfg') and cfg.get('val_dataloader')
    check_data_folders(cfg, ('train', 'val') if validates else ('train', ))


def val_metrics(runner: Runner) -> Dict[str, float]:
    """The metrics of the last validation, from the runner's message hub."""
    return {
        key[len('val/'):]: buf.current()
        for key, buf in runner.message_hub.log_scalars.items()
        if key.startswith('val/')
    }


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Train; returns the metrics of the final validation ({} if none)."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    check_inputs(cfg, args)
    runner = build_runner(cfg)
    runner.train()
    metrics = val_metrics(runner)
    if runner.rank == 0:
        if 'mIoU' in metrics:
            print(f'mIoU: {metrics["mIoU"]:.2f}', flush=True)
        else:
            print('mIoU: n/a (no validation ran)', flush=True)
    return metrics


if __name__ == '__main__':
    sys.exit(run_tool(main))
