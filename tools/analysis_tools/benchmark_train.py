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
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import (
    CfgOptionsAction,
    load_config,
    resolve_device,
    revert_sync_bn_cfg,
)
from emanet.engine import amp_optim_wrapper_cfg
from emanet.registry import MODELS
from emanet.structures import SegDataSample
from emanet.utils.errors import DEBUG_HELP, ConfigError, run_tool
from emanet.utils.precision import cpu_description

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark import (  # noqa: E402
    Timer,
    _cpu_peak_mib,
    _reset_cpu_peak,
    cpu_name,
)

AMP_WRAPPERS = ('AmpOptimWrapper', 'CPUAmpOptimWrapper')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark training steps (speed and memory)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations per run (default 5)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed iterations first (default 1)')
    parser.add_argument('--batch-size', type=int,
                        help='images per step (default: the config\'s '
                        'train_dataloader.batch_size)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='image size (default: the config\'s '
                        'crop_size)')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='default: cuda when available, else cpu')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--amp', action='store_true',
                           help='mixed precision: bf16 where supported, '
                           'else fp16 with loss scaling (CUDA)')
    precision.add_argument('--fp32', action='store_true',
                           help='float32 even if the config asks for '
                           'mixed precision (default: as configured)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels_last weights and inputs')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if args.batch_size is not None and args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def train_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of training crops (preprocessor size, else crop_size)."""
    size = cfg.model.get('data_preprocessor', {}).get('size') or \
        cfg.get('crop_size')
    if not size:
        raise ConfigError('no model.data_preprocessor.size or crop_size in '
                          'the config; pass --shape H W')
    return tuple(size)


def random_train_batch(batch_size: int, shape: Tuple[int, int],
                       num_classes: int, seed: int = 0) -> Dict[str, list]:
    """Random uint8 images ``[3, H, W]`` and labels (5% ignored, 255)."""
    gen = torch.Generator().manual_seed(seed)
    h, w = shape
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                                    generator=gen))
        label = torch.randint(0, num_classes, (1, h, w), generator=gen)
        label[torch.rand(1, h, w, generator=gen) < 0.05] = 255
        sample = SegDataSample(metainfo=dict(ori_shape=(h, w),
                                             img_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


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
    init_default_scope(cfg.get('default_scope', 'emanet'))

    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pretrained = None  # timing needs no download
    revert_sync_bn_cfg(model_cfg)  # one process: BN is what SyncBN does
    # Default initialisation: init_weights() only changes values, not time.
    model = revert_sync_batchnorm(MODELS.build(model_cfg)).to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if args.amp:
        optim_cfg = amp_optim_wrapper_cfg(optim_cfg, device.type)
    elif args.fp32 and optim_cfg.get('type') in AMP_WRAPPERS:
        optim_cfg.type = 'OptimWrapper'
        for key in ('dtype', 'loss_scale'):
            optim_cfg.pop(key, None)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)

    batch_size = args.batch_size or cfg.train_dataloader.batch_size
    shape = tuple(args.shape) if args.shape else train_shape(cfg)
    batch = random_train_batch(batch_size, shape, model.num_classes)
    if args.channels_last:
        # the preprocessor stacks NCHW batches; convert them on the way in
        def to_channels_last(module, args_):
            return tuple(a.contiguous(memory_format=torch.channels_last)
                         if isinstance(a, torch.Tensor) and a.dim() == 4
                         else a for a in args_)
        model.backbone.register_forward_pre_hook(to_channels_last)

    settings = dict(
        config=osp.basename(args.config),
        device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                else f'cpu: {cpu_name()} ({cpu_description()})'),
        batch_size=batch_size, shape=f'{shape[0]}x{shape[1]}',
        optim_wrapper=optim_cfg.get('type', 'OptimWrapper'),
        amp=autocast_name(optim_wrapper),
        channels_last=args.channels_last, warmup=args.warmup,
        iters=args.iters, torch=torch.__version__)
    print('settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
          flush=True)

    timer = Timer(device)
    for _ in range(args.warmup):
        model.train_step(batch, optim_wrapper)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    else:
        _reset_cpu_peak()
    start = timer.now()
    for _ in range(args.iters):
        log_vars = model.train_step(batch, optim_wrapper)
    seconds = timer.now() - start
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        peak_kind = 'CUDA max allocated'
    else:
        peak = _cpu_peak_mib()
        peak_kind = 'CPU peak RSS of the process'
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
