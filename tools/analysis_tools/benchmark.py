"""Time test-time inference: fps, ms/image and peak memory.

Runs the config's whole test-time path (data preprocessor, ``test_cfg``
whole or slide inference, resize to the original size, argmax) on images
of the config's test set when it is present, else on random images of the
config's test size (or ``--shape``). Images are loaded before timing, so
disk and pipeline time are not counted. Works with any number of images.

Examples::

    python tools/analysis_tools/benchmark.py CONFIG --shape 512 1024
    python tools/analysis_tools/benchmark.py CONFIG CKPT --fast --check
    python tools/analysis_tools/benchmark.py CONFIG --fast --amp bf16
"""
import argparse
import copy
import ctypes
import os.path as osp
import platform
import resource
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model, load_config, resolve_device
from emanet.structures import SegDataSample
from emanet.utils.fast_inference import (
    prepare_for_inference,
    resolve_amp_dtype,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark test-time inference speed and memory')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (random weights if omitted)')
    parser.add_argument('--num-images', type=int, default=5,
                        help='images timed per run (default 5)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed images before each run (default 1)')
    parser.add_argument('--repeat-times', type=int, default=1,
                        help='timed runs; the mean is reported (default 1)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='time random H x W images instead of the '
                        'test set')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='default: cuda when available, else cpu')
    parser.add_argument('--fast', action='store_true',
                        help='fold BatchNorm into convs, channels_last, '
                        'inference_mode; on CPU in float32 also Winograd 3x3 '
                        'convs and fused conv+ReLU (same predictions)')
    parser.add_argument('--no-channels-last', action='store_true',
                        help='with --fast: keep the NCHW memory format')
    parser.add_argument('--amp', nargs='?', const='auto',
                        choices=['auto', 'bf16', 'fp16'],
                        help='autocast (auto: bf16 where supported, else '
                        'fp16); EM iterations stay float32')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile (inductor, frozen weights) '
                        'the backbone and heads; the first image is slow')
    parser.add_argument('--check', action='store_true',
                        help='compare with the plain float32 model on the '
                        'same images: max |dlogit| and pixel agreement')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'model.test_cfg.mode=slide')
    args = parser.parse_args(argv)
    for name in ('num_images', 'repeat_times'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.shape and min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    return args


def config_test_shape(cfg: Config) -> Tuple[int, int]:
    """``(H, W)`` of test images: the test ``Resize`` scale or crop size."""
    pipeline = cfg.get('test_pipeline') or \
        cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for transform in pipeline:
        if transform.get('type') == 'Resize' and transform.get('scale'):
            scale = transform['scale']
            # mmcv scales are (w, h); keep_ratio treats them as (long, short)
            return (min(scale), max(scale)) if transform.get(
                'keep_ratio') else (scale[1], scale[0])
    crop = cfg.get('crop_size')
    if crop:
        return tuple(crop)
    raise KeyError('no test Resize scale or crop_size in the config; '
                   'pass --shape H W')


def load_test_batches(cfg: Config, num: int) -> Optional[List[dict]]:
    """Up to ``num`` single-image batches of the test set (cycled).

    Returns None when the test set cannot be built (files missing).
    """
    from mmengine.dataset import pseudo_collate

    from emanet.registry import DATASETS
    try:
        dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
        if len(dataset) == 0:
            return None
    except (FileNotFoundError, KeyError, ValueError, OSError) as err:
        print(f'test set not available ({type(err).__name__}: '
              f'{str(err).splitlines()[0] if str(err) else ""}); '
              'timing random images')
        return None
    cache = [dataset[i] for i in range(min(num, len(dataset)))]
    return [pseudo_collate([cache[i % len(cache)]]) for i in range(num)]


def random_batches(shape: Tuple[int, int], num: int,
                   seed: int = 0) -> List[dict]:
    """``num`` single-image batches of random uint8 ``[3, H, W]`` images."""
    gen = torch.Generator().manual_seed(seed)
    h, w = shape
    batches = []
    for _ in range(num):
        img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8,
                            generator=gen)
        sample = SegDataSample(metainfo=dict(ori_shape=(h, w),
                                             img_shape=(h, w)))
        batches.append(dict(inputs=[img], data_samples=[sample]))
    return batches


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def _reset_cpu_peak() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs``); False if not.

    Freed heap is handed back to the OS first (glibc ``malloc_trim``), so
    memory released while the model was built does not count.
    """
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _cpu_peak_mib() -> float:
    """Peak RSS: ``VmHWM`` (resettable) or ``ru_maxrss`` (process life)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Wall-clock timing that waits for queued device work first."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == 'cuda'

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def now(self) -> float:
        self.sync()
        return time.perf_counter()


def make_runner(model, device: torch.device, fast: bool, amp_dtype):
    """A callable running one batch through ``model.test_step``.

    The plain path runs under ``torch.no_grad`` like mmengine's test loop;
    the fast model carries its own inference_mode/autocast.
    """
    def run(batch):
        if fast:
            return model.test_step(batch)
        with torch.no_grad(), torch.autocast(
                device.type, dtype=amp_dtype or torch.float32,
                enabled=amp_dtype is not None):
            return model.test_step(batch)
    return run


def compare(reference: List[SegDataSample],
            other: List[SegDataSample]) -> Tuple[float, float]:
    """Max ``|dlogit|`` and the fraction of pixels with the same label."""
    max_diff, same, total = 0.0, 0, 0
    for ref, out in zip(reference, other):
        diff = (ref.seg_logits.data.float() - out.seg_logits.data.float())
        max_diff = max(max_diff, diff.abs().max().item())
        same += (ref.pred_sem_seg.data == out.pred_sem_seg.data).sum().item()
        total += ref.pred_sem_seg.data.numel()
    return max_diff, same / total


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    device = resolve_device(args.device)
    amp_dtype = resolve_amp_dtype(
        True if args.amp == 'auto' else args.amp, device.type)

    model = init_model(cfg, args.checkpoint, device=str(device))
    if args.check:
        # Kept on disk, not in memory, so the peak memory is the model's.
        tmp_dir = tempfile.TemporaryDirectory()
        plain_weights = osp.join(tmp_dir.name, 'plain.pth')
        torch.save(model.state_dict(), plain_weights)
    total = args.warmup + args.num_images
    batches = None if args.shape else load_test_batches(cfg, total)
    source = 'test set'
    if batches is None:
        shape = tuple(args.shape) if args.shape else config_test_shape(cfg)
        batches = random_batches(shape, total)
        source = f'random {shape[0]}x{shape[1]}'
    tuned = args.fast or args.compile
    if tuned:
        prepare_for_inference(
            model, fuse_bn=args.fast,
            channels_last=args.fast and not args.no_channels_last,
            amp=amp_dtype and {torch.bfloat16: 'bf16',
                               torch.float16: 'fp16'}[amp_dtype],
            compile=args.compile)
    run = make_runner(model, device, tuned, amp_dtype)
    timer = Timer(device)

    test_cfg = getattr(model, 'test_cfg', None) or {}
    settings = dict(
        config=osp.basename(args.config),
        checkpoint=args.checkpoint or 'none (random weights)',
        device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                else f'cpu: {cpu_name()}, {torch.get_num_threads()} '
                'threads'),
        inputs=source, test_mode=test_cfg.get('mode', 'whole'),
        fast=args.fast, channels_last=args.fast and not
        args.no_channels_last, amp=str(amp_dtype).replace('torch.', '')
        if amp_dtype else 'off', compile=args.compile,
        warmup=args.warmup, num_images=args.num_images,
        repeat_times=args.repeat_times, torch=torch.__version__)
    print('settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
          flush=True)

    seconds = []
    for r in range(args.repeat_times):
        for batch in batches[:args.warmup]:
            run(batch)
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        elif r == 0:
            _reset_cpu_peak()
        start = timer.now()
        for batch in batches[args.warmup:]:
            run(batch)
        seconds.append(timer.now() - start)
        print(f'run {r + 1}/{args.repeat_times}: {seconds[-1]:.3f} s for '
              f'{args.num_images} image(s), '
              f'{args.num_images / seconds[-1]:.3f} fps', flush=True)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        peak_kind = 'CUDA max allocated'
    else:
        peak = _cpu_peak_mib()
        peak_kind = 'CPU peak RSS of the process'
    mean_s = sum(seconds) / len(seconds)
    results = dict(fps=args.num_images / mean_s,
                   ms_per_image=1000 * mean_s / args.num_images,
                   peak_memory_mib=peak, settings=settings)
    print(f'fps: {results["fps"]:.3f}')
    print(f'ms/image: {results["ms_per_image"]:.1f}')
    print(f'peak memory: {peak:.1f} MiB ({peak_kind})')

    if args.check:
        check_batches = batches[args.warmup:]
        outputs = [run(b) for b in check_batches]
        reference = init_model(cfg, None, device=str(device))
        reference.load_state_dict(torch.load(plain_weights,
                                             map_location=device))
        tmp_dir.cleanup()
        ref_run = make_runner(reference, device, False, None)
        expected = [ref_run(b) for b in check_batches]
        max_diff, agreement = compare(
            [s for out in expected for s in out],
            [s for out in outputs for s in out])
        results.update(max_abs_logit_diff=max_diff,
                       pixel_agreement=agreement)
        print(f'check vs plain fp32: max |dlogit| {max_diff:.3g}, pixel '
              f'agreement {100 * agreement:.4f}% over '
              f'{len(check_batches)} image(s)')
    return results


if __name__ == '__main__':
    main()
