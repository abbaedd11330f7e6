"""Time every CPU inference path of a config side by side, in one process.

Paths: the plain PyTorch model, the fast path (``prepare_for_inference``)
in float32 with and without its hand-written kernels and in bfloat16, and
the exported ONNX model in ONNX Runtime (float32) and OpenVINO (f32,
bf16). All run the same ``test_step`` (preprocessing, whole or slide
inference, resize, argmax) on the same random images with random weights
and random BatchNorm statistics; the paths take turns, ``--repeat``
rounds, so that a busy machine slows them alike. The best round's
ms/image is reported (other processes only ever add time) with the
median, and the share of pixels whose class equals the plain model's.
bf16 paths are left out where the CPU would emulate bf16.

Example::

    python tools/analysis_tools/benchmark_backends.py \\
        configs/emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py \\
        --shape 512 1024 --num-images 2 --repeat 3
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import torch
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy import prepare_for_inference
from emanet.deploy.export import (
    compare,
    config_test_shape,
    export_onnx,
    network_input_shape,
)
from emanet.utils.benchmarking import device_description, random_batches
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.precision import bf16_is_native

PATHS = ('plain', 'ours-fp32', 'ours-fp32-nokernels', 'ours-bf16',
         'onnxruntime-fp32', 'openvino-f32', 'openvino-bf16')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='image size (default: the config\'s test size)')
    parser.add_argument('--num-images', type=int, default=2,
                        help='images per path per round (default 2)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='rounds; the median is reported (default 3)')
    parser.add_argument('--paths', nargs='+', choices=PATHS,
                        default=list(PATHS))
    parser.add_argument('--threads', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Random BatchNorm statistics and affine weights: folding and fusing
    then meet values unlike the init's zeros and ones."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, _BatchNorm):
                n = bn.num_features
                bn.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                bn.bias.copy_(torch.rand(n, generator=gen) - 0.5)


def build_paths(cfg, model, onnx_file: str,
                names: List[str]) -> Dict[str, Callable]:
    """``{path name: callable running one batch}``."""
    native = bf16_is_native('cpu')
    runners = {}
    for name in names:
        if name.endswith('bf16') and not native:
            print(f'{name}: skipped, this CPU would emulate bf16')
            continue
        if name == 'plain':
            plain = model

            def run(batch, plain=plain):
                with torch.no_grad():
                    return plain.test_step(batch)
        elif name.startswith('ours'):
            options = dict(amp='bf16' if name.endswith('bf16') else None)
            if name.endswith('nokernels'):  # what the kernels are worth
                options.update(winograd=False, split_convs=False,
                               fuse_relu=False)
            run = prepare_for_inference(copy.deepcopy(model),
                                        **options).test_step
        else:
            backend, precision = name.split('-')
            run = init_model(
                cfg, onnx_file, backend=backend,
                amp='bf16' if precision == 'bf16' else None).test_step
        runners[name] = run
    return runners


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope('emanet')
    shape = tuple(args.shape) if args.shape else config_test_shape(cfg)
    model = init_model(cfg, None, device='cpu')
    randomise_bn(model)
    tmp = tempfile.TemporaryDirectory()
    onnx_file = osp.join(tmp.name, 'model.onnx')
    start = time.perf_counter()
    slide = (model.test_cfg or {}).get('mode') == 'slide'
    export_onnx(model, onnx_file,  # static: the shape the network sees
                network_input_shape(cfg) if slide else shape)
    print(f'exported in {time.perf_counter() - start:.1f} s')
    runners = build_paths(cfg, model, onnx_file, args.paths)
    batches = random_batches(shape, args.num_images)
    mode = 'slide' if slide else 'whole'
    print(f'settings: config={osp.basename(args.config)}, image '
          f'{shape[0]}x{shape[1]}, test_cfg.mode={mode}, '
          f'{device_description("cpu")}, torch {torch.__version__}',
          flush=True)
    outputs = {name: run(batches[0]) for name, run in runners.items()}
    times: Dict[str, List[float]] = {name: [] for name in runners}
    for round_ in range(args.repeat):
        for name, run in runners.items():
            start = time.perf_counter()
            for batch in batches:
                run(batch)
            times[name].append(
                1000 * (time.perf_counter() - start) / len(batches))
        print(f'round {round_ + 1}: ' + ', '.join(
            f'{n} {t[-1]:.0f}' for n, t in times.items()), flush=True)
    results = {}
    base = min(times['plain']) if 'plain' in times else None
    print('| path | ms/image (best) | vs plain | median | pixels equal '
          'to plain |')
    print('|---|---|---|---|---|')
    for name, values in times.items():
        ms = min(values)
        agree = compare(outputs['plain'], outputs[name])[1] \
            if 'plain' in outputs else float('nan')
        results[name] = dict(ms=ms, rounds=values, agreement=agree)
        speed = f'{base / ms:.2f}x' if base else '-'
        print(f'| {name} | {ms:.0f} | {speed} | '
              f'{statistics.median(values):.0f} | {100 * agree:.3f}% |')
    tmp.cleanup()
    return results


if __name__ == '__main__':
    sys.exit(run_tool(main))
