"""Train a segmentor from a config with mmengine's Runner.

Example::

    python tools/train.py configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py
"""  # noqa: E501
import argparse
import os
import sys
from typing import Dict, List, Optional

from mmengine.config import Config

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import build_runner
from emanet.apis.training import (
    SegTrainOptions,
    build_train_cfg,
    check_inputs,
    val_metrics,
)
from emanet.config import CfgOptionsAction
from emanet.utils.errors import DEBUG_HELP, run_tool


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


def setup_cfg(args: argparse.Namespace) -> Config:
    """The config of the run the command line asks for."""
    return build_train_cfg(SegTrainOptions.from_args(args))


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Train; returns the metrics of the final validation ({} if none)."""
    args = parse_args(argv)
    options = SegTrainOptions.from_args(args)
    cfg = build_train_cfg(options)
    check_inputs(cfg, options)
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
