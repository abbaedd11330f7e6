"""Time training steps: iterations/s, images/s and peak memory.

Each step is the Runner's ``model.train_step`` (data preprocessor, loss
forward of the decode and auxiliary heads, backward, optimizer update) on
random images and labels at the config's crop size and training batch
size, with the config's optimizer wrapper.

Examples::

    python tools/analysis_tools/benchmark_train.py CONFIG
    python tools/analysis_tools/benchmark_train.py CONFIG --amp \\
        --channels-last --batch-size 2 --shape 512 1024
"""
import argparse
import copy
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import resolve_device
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import non_negative_int, positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.engine.optim_wrappers import amp_optim_wrapper_cfg
from emanet.models.builder import build_model_outside_runner
from emanet.utils.benchmarking import (
    Timer,
    device_description,
    peak_memory,
    random_batches,
    reset_peak_memory,
)
from emanet.utils.errors import DEBUG_HELP, ConfigError, run_tool
from emanet.utils.memory_format import use_channels_last

AMP_WRAPPERS = ('AmpOptimWrapper', 'CPUAmpOptimWrapper')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark training steps (speed and memory)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--iters', type=positive_int, default=5,
                        help='timed iterations per run (default 5)')
    parser.add_argument('--warmup', type=non_negative_int, default=1,
                        help='untimed iterations first (default 1)')
    parser.add_argument('--batch-size', type=positive_int,
                        help='images per step (default: the config\'s '
                        'train_dataloader.batch_size)')
    parser.add_argument('--shape', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='image size (default: the config\'s '
                        'crop_size)')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='default: cuda when available, else cpu')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--amp', nargs='?', const='auto',
                           choices=['auto', 'fp16', 'bf16'],
                           help='mixed precision as tools/train.py --amp: '
                           'CUDA fp16 with loss scaling (bf16: without), '
                           'CPU bf16 where native')
    precision.add_argument('--fp32', action='store_true',
                           help='float32 even if the config asks for '
                           'mixed precision (default: as configured)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last weights and inputs')
    parser.add_argument('--threads', type=positive_int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def train_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of training crops (preprocessor size, else crop_size)."""
    size = cfg.model.get('data_preprocessor', {}).get('size') or \
        cfg.get('crop_size')
    if not size:
        raise ConfigError('no model.data_preprocessor.size or crop_size in '
                          'the config; pass --shape H W')
    return tuple(size)


def autocast_name(optim_wrapper) -> str:
    """The precision the wrapper really trains in: a CPU that would
    emulate bfloat16 makes ``CPUAmpOptimWrapper`` run float32."""
    if type(optim_wrapper).__name__ not in AMP_WRAPPERS:
        return 'off (float32)'
    dtype = getattr(optim_wrapper, 'cast_dtype', None)
    if dtype is None:  # mmengine's AmpOptimWrapper: float16 by default
        return ('off (float32)' if type(optim_wrapper).__name__ ==
                'CPUAmpOptimWrapper' else 'float16')
    return str(dtype).replace('torch.', '')


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    device = resolve_device(args.device)
    prepare_tool_run(cfg)

    # No download, and BN for SyncBN (one process). Default
    # initialisation: init_weights() only changes values, not time.
    model = build_model_outside_runner(cfg.model).to(device)
    if args.channels_last:
        use_channels_last(model)
    model.train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if args.amp:
        optim_cfg = amp_optim_wrapper_cfg(optim_cfg, device.type,
                                          args.amp)
    elif args.fp32 and optim_cfg.get('type') in AMP_WRAPPERS:
        optim_cfg.type = 'OptimWrapper'
        for key in ('dtype', 'loss_scale'):
            optim_cfg.pop(key, None)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)

    batch_size = args.batch_size or cfg.train_dataloader.batch_size
    shape = tuple(args.shape) if args.shape else train_shape(cfg)
    batch = random_batches(shape, 1, batch_size=batch_size,
                           num_classes=model.num_classes)[0]

    settings = dict(
        config=osp.basename(args.config),
        device=device_description(device), batch_size=batch_size,
        shape=f'{shape[0]}x{shape[1]}',
        optim_wrapper=optim_cfg.get('type', 'OptimWrapper'),
        amp=autocast_name(optim_wrapper),
        channels_last=args.channels_last, warmup=args.warmup,
        iters=args.iters, torch=torch.__version__)
    print('settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
          flush=True)

    timer = Timer(device)
    for _ in range(args.warmup):
        model.train_step(batch, optim_wrapper)
    reset_peak_memory(device)
    start = timer.now()
    for _ in range(args.iters):
        log_vars = model.train_step(batch, optim_wrapper)
    seconds = timer.now() - start
    peak, peak_kind = peak_memory(device)
    loss = float(log_vars['loss'].detach())
    results = dict(iters_per_s=args.iters / seconds,
                   images_per_s=args.iters * batch_size / seconds,
                   ms_per_iter=1000 * seconds / args.iters,
                   peak_memory_mib=peak, loss=loss, settings=settings)
    print(f'iters/s: {results["iters_per_s"]:.3f}')
    print(f'images/s: {results["images_per_s"]:.3f}')
    print(f'ms/iter: {results["ms_per_iter"]:.1f}')
    print(f'peak memory: {peak:.1f} MiB ({peak_kind})')
    print(f'last loss: {loss:.4f}')
    return results


if __name__ == '__main__':
    sys.exit(run_tool(main))
