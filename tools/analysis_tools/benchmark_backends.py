"""Time every CPU inference path of a config side by side, in one process.

Paths: the plain PyTorch model, the fast path (``prepare_for_inference``)
in float32 with and without its hand-written kernels and in bfloat16, and
the exported ONNX model in ONNX Runtime (float32) and OpenVINO (f32,
bf16), and its int8 quantization in OpenVINO (``openvino-int8``: NNCF with
``tools/deployment/quantize.py``'s defaults, calibrated on the timed random
images, as the weights are random too: for speed only). All run the
same ``test_step`` (preprocessing, whole or slide inference, resize,
argmax) on the same random images with random weights and random
BatchNorm statistics; the paths take turns, ``--repeat``
rounds, so that a busy machine slows them alike. The best round's
ms/image is reported (other processes only ever add time) with the
median, and the share of pixels whose class equals the plain model's.
bf16 paths are left out where the CPU would emulate bf16.

References, each timed next to the path it is held against (after it,
and before it in every other round, as all paths take turns backwards
then), whose speed ratio (median over rounds of the pair's time ratio)
ends the output: ``mmseg``, mmsegmentation's own model with the same weights
(needs ``pip install --no-deps mmsegmentation==1.2.2``; skipped without
it), for ``plain``; ``<runtime>-direct``, the runtime called directly on
the same file (a backend segmentor of its own, through its
``run_network``) with the same normalisation, resize and argmax written
out (whole inference only), for each runtime path; for these pairs the
time outside the runtime call is printed too (preprocessing, resizes,
argmax and glue: what the toolbox adds, apart from the runtime's own
variation).

Example::

    python tools/analysis_tools/benchmark_backends.py \\
        configs/emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py \\
        --shape 512 1024 --num-images 2 --repeat 3
"""
import argparse
import copy
import functools
import os.path as osp
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from torch.nn.modules.batchnorm import _BatchNorm

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy import prepare_for_inference
from emanet.deploy.runtime.export import export_onnx
from emanet.structures import SegDataSample
from emanet.utils.benchmarking import (
    CallClock,
    compare,
    config_test_shape,
    device_description,
    network_input_shape,
    random_batches,
)
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.precision import bf16_is_native

DIRECT = '-direct'


@dataclass
class Setup:
    """What every path is built from: the config, its plain model (random
    weights and BatchNorm), its ONNX export and the timed batches."""

    cfg: Config
    model: torch.nn.Module
    onnx_file: str
    batches: List[dict]
    slide: bool


@dataclass
class Timed:
    """A built path: ``run(batch)`` gives ``test_step``'s samples; with a
    ``clock``, the seconds spent inside the runtime call add up there."""

    run: Callable[[dict], list]
    clock: Optional[CallClock] = None


@dataclass(frozen=True)
class PathSpec:
    """One path of the table: how to build it (``build(path, setup)``,
    None when skipped, with a line saying why), the path it is held
    against, and its runtime and precision where it has them."""

    name: str
    build: Callable[['PathSpec', Setup], Optional[Timed]]
    reference: Optional[str] = None
    backend: Optional[str] = None
    precision: str = 'fp32'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='image size (default: the config\'s test size)')
    parser.add_argument('--num-images', type=positive_int, default=2,
                        help='images per path per round (default 2)')
    parser.add_argument('--repeat', type=positive_int, default=3,
                        help='rounds; the median is reported (default 3)')
    parser.add_argument('--paths', nargs='+', choices=list(PATHS),
                        default=list(PATHS))
    parser.add_argument('--threads', type=positive_int)
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


def no_grad(test_step: Callable[[dict], list]) -> Callable[[dict], list]:
    """``test_step`` under ``torch.no_grad``, as ``benchmark.py`` runs
    it."""
    def run(batch: dict) -> list:
        with torch.no_grad():
            return test_step(batch)
    return run


def build_plain(path: PathSpec, setup: Setup) -> Timed:
    return Timed(no_grad(setup.model.test_step))


def build_fast(path: PathSpec, setup: Setup, kernels: bool = True) -> Timed:
    """The fast path on a copy; without ``kernels``: what they are worth."""
    options = dict(amp='bf16' if path.precision == 'bf16' else None)
    if not kernels:
        options.update(winograd=False, split_convs=False, fuse_relu=False)
    return Timed(prepare_for_inference(copy.deepcopy(setup.model),
                                       **options).test_step)


def open_runtime(path: PathSpec, setup: Setup) -> torch.nn.Module:
    """The backend segmentor of the path's runtime and precision."""
    return init_model(setup.cfg, setup.onnx_file, backend=path.backend,
                      amp='bf16' if path.precision == 'bf16' else None)


def build_runtime(path: PathSpec, setup: Setup) -> Timed:
    """``test_step`` of the backend segmentor, its runtime call timed."""
    segmentor = open_runtime(path, setup)
    clock = CallClock(segmentor.run_network)

    def run(batch: dict) -> list:  # as benchmark.py
        with segmentor.use_network(clock), torch.no_grad():
            return segmentor.test_step(batch)
    return Timed(run, clock)


def build_direct(path: PathSpec, setup: Setup) -> Optional[Timed]:
    """The runtime called on its own (``run_network`` of a segmentor of
    its own), with the same pre/post-processing as ``test_step`` written
    out: BGR->RGB, normalise, network, bilinear resize to the image,
    argmax (as ``max``'s indices, like ``BaseSegmentor``). One image per
    call, no padding (whole inference)."""
    if setup.slide:
        print(f'{path.name}: skipped, written for whole inference')
        return None
    clock = CallClock(open_runtime(path, setup).run_network)
    pre = setup.cfg.model.data_preprocessor
    mean = torch.tensor(pre['mean'], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(pre['std'], dtype=torch.float32).view(-1, 1, 1)
    swap = pre.get('bgr_to_rgb', False) or pre.get('rgb_to_bgr', False)
    align_corners = setup.cfg.model.decode_head.get('align_corners', False)

    def run(batch: dict) -> list:
        samples = []
        with torch.no_grad():
            for img, sample in zip(batch['inputs'], batch['data_samples']):
                img = img[[2, 1, 0]] if swap else img  # [3, H, W]
                x = (img.float() - mean).div_(std)[None]  # [1, 3, H, W]
                logits = torch.from_numpy(clock(x.numpy()))  # [1, K, h, w]
                logits = F.interpolate(
                    logits, tuple(sample.ori_shape), mode='bilinear',
                    align_corners=align_corners)[0]  # [K, H, W]
                out = SegDataSample(metainfo=sample.metainfo)
                out.seg_logits = PixelData(data=logits)
                out.pred_sem_seg = PixelData(
                    data=logits.max(dim=0, keepdim=True)[1])  # [1, H, W]
                samples.append(out)
        return samples
    return Timed(run, clock)


def quantized_file(cfg, onnx_file: str, batches: List[dict]) -> str:
    """``onnx_file`` quantized to int8 beside it, calibrated on
    ``batches`` (the quantize tool's defaults otherwise)."""
    import openvino as ov

    from emanet.deploy.runtime.quantize import (
        CalibrationData,
        quantize_network,
        save_ir,
    )
    start = time.perf_counter()
    float_model = init_model(cfg, onnx_file, backend='openvino')
    network = quantize_network(
        ov.Core().read_model(onnx_file),
        CalibrationData(float_model, lambda: batches, len(batches)))
    int8_file = osp.splitext(onnx_file)[0] + '_int8.xml'
    save_ir(network, int8_file)
    print(f'quantized in {time.perf_counter() - start:.1f} s')
    return int8_file


def build_int8(path: PathSpec, setup: Setup) -> Timed:
    int8 = init_model(setup.cfg, quantized_file(
        setup.cfg, setup.onnx_file, setup.batches))
    return Timed(no_grad(int8.test_step))


def mmseg_runner(cfg, model: torch.nn.Module) -> Optional[Callable]:
    """mmsegmentation's own model of the config, with ``model``'s weights
    (state-dict keys are the same), or None without mmsegmentation."""
    from mmengine.registry import DefaultScope

    from emanet.models.builder import revert_sync_bn_cfg
    from emanet.utils.mmseg_import import import_mmseg

    mmseg_models = import_mmseg()
    if mmseg_models is None:
        return None
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pretrained = None
    revert_sync_bn_cfg(model_cfg)  # as init_model: one process, BN
    with DefaultScope.overwrite_default_scope('mmseg'):
        reference = mmseg_models.build(model_cfg)
    reference.load_state_dict(model.state_dict(), strict=True)
    reference.eval()
    return no_grad(reference.test_step)


def build_mmseg(path: PathSpec, setup: Setup) -> Optional[Timed]:
    run = mmseg_runner(setup.cfg, setup.model)
    if run is None:
        print(f'{path.name}: skipped, mmsegmentation is not installed '
              '(pip install --no-deps mmsegmentation==1.2.2)')
        return None
    return Timed(run)


def runtime_path(backend: str, precision: str) -> PathSpec:
    """A runtime in ``test_step``, held against the same runtime called
    directly."""
    name = f'{backend}-{precision}'
    return PathSpec(name, build_runtime, name + DIRECT, backend, precision)


def direct_path(backend: str, precision: str) -> PathSpec:
    """The runtime called directly: the reference of :func:`runtime_path`.
    """
    return PathSpec(f'{backend}-{precision}{DIRECT}', build_direct, None,
                backend, precision)


# name -> path, in the default order of --paths
PATHS: Dict[str, PathSpec] = {path.name: path for path in (
    PathSpec('plain', build_plain, reference='mmseg'),
    PathSpec('ours-fp32', build_fast),
    PathSpec('ours-fp32-nokernels',
             functools.partial(build_fast, kernels=False)),
    PathSpec('ours-bf16', build_fast, precision='bf16'),
    runtime_path('onnxruntime', 'fp32'),
    runtime_path('openvino', 'f32'),
    runtime_path('openvino', 'bf16'),
    PathSpec('openvino-int8', build_int8, backend='openvino',
             precision='int8'),
    PathSpec('mmseg', build_mmseg),
    direct_path('onnxruntime', 'fp32'),
    direct_path('openvino', 'f32'),
    direct_path('openvino', 'bf16'))}


def reference_of(name: str) -> Optional[str]:
    """The path a toolbox path is held against: the runtime called
    directly for a runtime in ``test_step``, mmsegmentation's model for the
    plain model."""
    return PATHS[name].reference


def paired_order(names: List[str]) -> List[str]:
    """``names`` with each reference right after its toolbox path, so that
    a pair runs back to back in every round."""
    order = []
    for name in names:
        if name not in order:
            order.append(name)
        reference = reference_of(name)
        if reference in names and reference not in order:
            order.append(reference)
    return order


def speed_vs_reference(times: Dict[str, List[float]]
                       ) -> Dict[str, Tuple[str, float, str]]:
    """``{toolbox path: (reference, speed ratio, line)}``: the median over
    rounds of reference time / toolbox time, pair by pair (> 1: the
    toolbox path is faster)."""
    gaps = {}
    for ours in times:
        reference = reference_of(ours)
        if reference not in times:
            continue
        ratios = [r / o for o, r in zip(times[ours], times[reference])]
        ratio = statistics.median(ratios)
        gaps[ours] = (reference, ratio, (
            f'{ours}: {ratio:.3f}x the speed of {reference} (median of '
            f'{len(ratios)} paired rounds, {min(ratios):.3f}-'
            f'{max(ratios):.3f}; best rounds {min(times[ours]):.0f} vs '
            f'{min(times[reference]):.0f} ms/image)'))
    return gaps


def build_paths(setup: Setup, names: List[str]) -> Dict[str, Timed]:
    """``{path name: built path}``, skipped paths left out."""
    native = bf16_is_native('cpu')
    built = {}
    for name in names:
        path = PATHS[name]
        if path.precision == 'bf16' and not native:
            print(f'{name}: skipped, this CPU would emulate bf16')
            continue
        timed = path.build(path, setup)
        if timed is not None:
            built[name] = timed
    return built


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    prepare_tool_run(cfg)
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
    batches = random_batches(shape, args.num_images)
    runners = build_paths(Setup(cfg, model, onnx_file, batches, slide),
                          paired_order(args.paths))
    mode = 'slide' if slide else 'whole'
    print(f'settings: config={osp.basename(args.config)}, image '
          f'{shape[0]}x{shape[1]}, test_cfg.mode={mode}, '
          f'{device_description("cpu")}, torch {torch.__version__}',
          flush=True)
    outputs = {name: timed.run(batches[0])
               for name, timed in runners.items()}
    times: Dict[str, List[float]] = {name: [] for name in runners}
    outside: Dict[str, List[float]] = {name: [] for name in runners}
    for round_ in range(args.repeat):
        # every other round backwards: each path of a pair goes first as
        # often as the other (what ran before can slow the next one)
        order = list(runners.items())
        for name, timed in order[::-1] if round_ % 2 else order:
            if timed.clock is not None:
                timed.clock.seconds = 0.0
            start = time.perf_counter()
            for batch in batches:
                timed.run(batch)
            seconds = time.perf_counter() - start
            times[name].append(1000 * seconds / len(batches))
            if timed.clock is not None:
                outside[name].append(1000 * (
                    seconds - timed.clock.seconds) / len(batches))
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
    for name, (reference, ratio, line) in speed_vs_reference(
            times).items():
        results[name].update(reference=reference, speed_vs_reference=ratio)
        print(line)
        if outside[name] and outside.get(reference):
            print(f'{name}: {min(outside[name]):.1f} ms/image outside the '
                  f'runtime call, {reference}: '
                  f'{min(outside[reference]):.1f} (best rounds)')
    for name, values in outside.items():
        if values:
            results[name]['outside_runtime_ms'] = min(values)
    tmp.cleanup()
    return results


if __name__ == '__main__':
    sys.exit(run_tool(main))
