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
    python tools/analysis_tools/benchmark.py CONFIG model.onnx \\
        --backend openvino --amp --check
"""
import argparse
import os.path as osp
import sys
import tempfile
from typing import Any, Dict, List, Optional

import torch

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model, resolve_device
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import non_negative_int, positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy import prepare_for_inference
from emanet.deploy.runtime.backend_option import check_backend_option
from emanet.deploy.runtime.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    backend_of,
)
from emanet.deploy.runtime.model_files import is_exported_model
from emanet.utils.benchmarking import (
    Timer,
    compare,
    config_test_shape,
    device_description,
    load_test_batches,
    peak_memory,
    random_batches,
    reset_peak_memory,
)
from emanet.utils.errors import DEBUG_HELP, UserError, run_tool
from emanet.utils.precision import resolve_amp_dtype

# Untimed and timed images per run: mmsegmentation's benchmark.py on CUDA
# (5 and 200); a CPU takes seconds per Cityscapes image, so fewer there.
DEFAULTS = dict(cuda=dict(warmup=5, num_images=200),
                cpu=dict(warmup=1, num_images=5))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark test-time inference speed and memory')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (random weights if omitted), '
                        'or an .onnx file of tools/deployment/'
                        'pytorch2onnx.py run by --backend, or an int8 .xml '
                        'of tools/deployment/quantize.py (OpenVINO)')
    parser.add_argument('--backend', choices=sorted(BACKENDS),
                        help='runtime of an .onnx model (default '
                        f'{DEFAULT_BACKEND}; an .xml runs in openvino). '
                        'Fastest CPU paths measured: '
                        'bf16 openvino --amp, float32 --fast on the '
                        'checkpoint (docs/benchmark.md)')
    parser.add_argument('--num-images', type=positive_int,
                        help='images timed per run (default: '
                        f'{DEFAULTS["cuda"]["num_images"]} on CUDA, as '
                        'mmsegmentation\'s benchmark; '
                        f'{DEFAULTS["cpu"]["num_images"]} on CPU)')
    parser.add_argument('--warmup', type=non_negative_int,
                        help='untimed images before each run (default: '
                        f'{DEFAULTS["cuda"]["warmup"]} on CUDA, '
                        f'{DEFAULTS["cpu"]["warmup"]} on CPU)')
    parser.add_argument('--repeat-times', type=positive_int, default=1,
                        help='timed runs; the mean is reported (default 1)')
    parser.add_argument('--shape', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
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
                        'fp16; EM iterations stay float32), or bf16 in '
                        'openvino; float32 (and a log line saying why) on '
                        'CPUs that would emulate bf16')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile (inductor, frozen weights) '
                        'the backbone and heads; the first image is slow')
    parser.add_argument('--check', action='store_true',
                        help='compare with the plain float32 model (an '
                        '.onnx model: with it in onnxruntime) on the '
                        'same images: max |dlogit| and pixel agreement')
    parser.add_argument('--threads', type=positive_int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys, e.g. '
                        'model.test_cfg.mode=slide')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


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


def build_timed_model(args, cfg, device: torch.device, amp_dtype,
                      save_plain: Optional[str] = None):
    """The model to time and whether it carries its own inference mode.

    With ``save_plain`` the plain model's weights are written there
    before the fast path changes them (the ``--check`` reference).
    """
    if is_exported_model(args.checkpoint):
        if args.fast or args.compile or device.type != 'cpu':
            raise UserError('an exported model runs on the CPU in its '
                            'runtime: drop --fast/--compile/--device cuda')
        return init_model(cfg, args.checkpoint, backend=args.backend,
                          amp=amp_dtype), False
    model = init_model(cfg, args.checkpoint, device=str(device))
    if save_plain:
        torch.save(model.state_dict(), save_plain)
    tuned = args.fast or args.compile
    if tuned:
        prepare_for_inference(
            model, fuse_bn=args.fast,
            channels_last=args.fast and not args.no_channels_last,
            amp=amp_dtype, compile=args.compile)
    return model, tuned


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    check_backend_option(args.checkpoint, args.backend)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    device = resolve_device(args.device)
    # the timed images come from the test set unless --shape
    prepare_tool_run(cfg, model_file=args.checkpoint,
                     demo_data=not args.shape)
    for name, default in DEFAULTS[device.type].items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    # float32 where bf16 would be emulated (logged once, with the reason)
    amp_dtype = resolve_amp_dtype(
        True if args.amp == 'auto' else args.amp, device, what='--amp')

    total = args.warmup + args.num_images
    batches = None if args.shape else load_test_batches(cfg, total)
    source = 'test set'
    if batches is None:
        shape = tuple(args.shape) if args.shape else config_test_shape(cfg)
        batches = random_batches(shape, total)
        source = f'random {shape[0]}x{shape[1]}'
    plain_weights = None
    if args.check and not is_exported_model(args.checkpoint):
        # The reference runs after the timing, from weights kept on disk,
        # so the peak memory is the timed model's.
        tmp_dir = tempfile.TemporaryDirectory()
        plain_weights = osp.join(tmp_dir.name, 'plain.pth')
    model, tuned = build_timed_model(args, cfg, device, amp_dtype,
                                     plain_weights)
    # The config decides, for every path (mmseg's benchmark does the
    # same); the fast path turns it on for CUDA models.
    cudnn_benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark',
                                                      False))
    torch.backends.cudnn.benchmark = cudnn_benchmark
    # an exported model's precision is the runtime's: torch autocast
    # would only slow the preprocessing and resizes around it
    run = make_runner(model, device, tuned, None if is_exported_model(
        args.checkpoint) else amp_dtype)
    timer = Timer(device)

    test_cfg = getattr(model, 'test_cfg', None) or {}
    backend = backend_of(args.checkpoint, args.backend)
    settings = dict(
        config=osp.basename(args.config),
        checkpoint=args.checkpoint or 'none (random weights)',
        backend=backend, device=device_description(device),
        inputs=source, test_mode=test_cfg.get('mode', 'whole'),
        cudnn_benchmark=cudnn_benchmark,
        fast=args.fast, channels_last=args.fast and not
        args.no_channels_last, amp=str(amp_dtype).replace('torch.', '')
        if amp_dtype else 'off (float32)', compile=args.compile,
        warmup=args.warmup, num_images=args.num_images,
        repeat_times=args.repeat_times, torch=torch.__version__)
    print('settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
          flush=True)

    seconds = []
    for r in range(args.repeat_times):
        for batch in batches[:args.warmup]:
            run(batch)
        if device.type == 'cuda' or r == 0:  # RSS peaks: the first run's
            reset_peak_memory(device)
        start = timer.now()
        for batch in batches[args.warmup:]:
            run(batch)
        seconds.append(timer.now() - start)
        print(f'run {r + 1}/{args.repeat_times}: {seconds[-1]:.3f} s for '
              f'{args.num_images} image(s), '
              f'{args.num_images / seconds[-1]:.3f} fps', flush=True)
    peak, peak_kind = peak_memory(device)
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
        if is_exported_model(args.checkpoint):
            # an .xml runs in OpenVINO only: its float32 layers in f32
            ref_backend = backend_of(args.checkpoint)
            reference = init_model(cfg, args.checkpoint,
                                   backend=ref_backend)
            what = f'{ref_backend} fp32'
        else:
            reference = init_model(cfg, None, device=str(device))
            reference.load_state_dict(torch.load(plain_weights,
                                                 map_location=device))
            tmp_dir.cleanup()
            what = 'plain fp32'
        ref_run = make_runner(reference, device, False, None)
        expected = [ref_run(b) for b in check_batches]
        max_diff, agreement = compare(
            [s for out in expected for s in out],
            [s for out in outputs for s in out])
        results.update(max_abs_logit_diff=max_diff,
                       pixel_agreement=agreement)
        # a file of labels (--output label) has no logits to compare
        logits = '' if max_diff != max_diff else \
            f'max |dlogit| {max_diff:.3g}, '
        print(f'check vs {what}: {logits}pixel agreement '
              f'{100 * agreement:.4f}% over {len(check_batches)} image(s)')
    return results


if __name__ == '__main__':
    sys.exit(run_tool(main))
