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
the same file with the same normalisation, resize and argmax written out
(whole inference only), for each runtime path; for these pairs the
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
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from torch.nn.modules.batchnorm import _BatchNorm

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy import prepare_for_inference
from emanet.deploy.export import (
    INPUT_NAME,
    compare,
    config_test_shape,
    export_onnx,
    network_input_shape,
)
from emanet.structures import SegDataSample
from emanet.utils.benchmarking import device_description, random_batches
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.precision import bf16_is_native

PATHS = ('plain', 'ours-fp32', 'ours-fp32-nokernels', 'ours-bf16',
         'onnxruntime-fp32', 'openvino-f32', 'openvino-bf16',
         'openvino-int8', 'mmseg', 'onnxruntime-fp32-direct',
         'openvino-f32-direct', 'openvino-bf16-direct')
DIRECT = '-direct'
# per path: seconds inside the runtime call in the current round, so that
# the time around it (preprocessing, resizes, argmax, glue) shows apart
RUNTIME_SECONDS: Dict[str, float] = {}


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


def quantized_file(cfg, onnx_file: str, batches: List[dict]) -> str:
    """``onnx_file`` quantized to int8 beside it, calibrated on
    ``batches`` (the quantize tool's defaults otherwise)."""
    import openvino as ov

    from emanet.deploy.quantize import (
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


def mmseg_runner(cfg, model: torch.nn.Module) -> Optional[Callable]:
    """mmsegmentation's own model of the config, with ``model``'s weights
    (state-dict keys are the same), or None without mmsegmentation.

    mmseg refuses mmcv-lite at import: its version check is passed for
    the import only, and its compiled-op module stubbed (EMANet uses
    none).
    """
    import importlib.util
    import types

    if importlib.util.find_spec('mmseg') is None:
        return None
    import mmcv

    def no_op(attr: str) -> Callable:
        if attr.startswith('__'):  # keep the import machinery's answers
            raise AttributeError(attr)
        return lambda *args, **kwargs: None

    stubs = []
    for missing in ('mmcv._ext', 'prettytable', 'ftfy', 'regex'):
        try:
            __import__(missing)
        except ImportError:
            stub = types.ModuleType(missing)
            stub.__getattr__ = no_op
            stub.PrettyTable = object
            sys.modules[missing] = stub
            stubs.append(missing)
    version, mmcv.__version__ = mmcv.__version__, '2.1.0'
    try:
        import mmseg  # noqa: F401
        from mmseg.registry import MODELS as MMSEG_MODELS
        from mmseg.utils import register_all_modules
        register_all_modules(init_default_scope=False)
    finally:  # the rest of the process sees mmcv-lite as it is
        mmcv.__version__ = version
        for missing in stubs:
            del sys.modules[missing]
    from mmengine.registry import DefaultScope

    from emanet.models.builder import revert_sync_bn_cfg

    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pretrained = None
    revert_sync_bn_cfg(model_cfg)  # as init_model: one process, BN
    with DefaultScope.overwrite_default_scope('mmseg'):
        reference = MMSEG_MODELS.build(model_cfg)
    reference.load_state_dict(model.state_dict(), strict=True)
    reference.eval()

    def run(batch):
        with torch.no_grad():
            return reference.test_step(batch)
    return run


def clocked(name: str, call: Callable) -> Callable:
    """``call``, adding the seconds it runs to ``RUNTIME_SECONDS[name]``."""
    def timed(*args):
        start = time.perf_counter()
        try:
            return call(*args)
        finally:
            RUNTIME_SECONDS[name] = (RUNTIME_SECONDS.get(name, 0.0) +
                                     time.perf_counter() - start)
    return timed


def direct_runner(cfg, onnx_file: str, name: str) -> Callable:
    """The runtime called on its own, with the same pre/post-processing
    as ``test_step`` written out: BGR->RGB, normalise, network, bilinear
    resize to the image, argmax (as ``max``'s indices, like
    ``BaseSegmentor``). Runtime defaults, but the precision and torch's
    thread count; one image per call, no padding (whole inference)."""
    backend, precision = name[:-len(DIRECT)].split('-')
    pre = cfg.model.data_preprocessor
    mean = torch.tensor(pre['mean'], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(pre['std'], dtype=torch.float32).view(-1, 1, 1)
    swap = pre.get('bgr_to_rgb', False) or pre.get('rgb_to_bgr', False)
    align_corners = cfg.model.decode_head.get('align_corners', False)
    threads = torch.get_num_threads()
    if backend == 'onnxruntime':
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(onnx_file, options,
                                       providers=['CPUExecutionProvider'])

        def network(array):
            return session.run(None, {INPUT_NAME: array})[0]
    else:
        import openvino as ov

        from emanet.utils.signal_stack import keep_signal_stack
        with keep_signal_stack():  # see emanet/utils/signal_stack.py
            request = ov.Core().compile_model(onnx_file, 'CPU', {
                'INFERENCE_PRECISION_HINT': precision,
                'INFERENCE_NUM_THREADS': threads}).create_infer_request()

        def network(array):
            request.infer({0: array}, share_inputs=True)
            return request.get_output_tensor(0).data
    network = clocked(name, network)

    def run(batch):
        samples = []
        with torch.no_grad():
            for img, sample in zip(batch['inputs'], batch['data_samples']):
                img = img[[2, 1, 0]] if swap else img  # [3, H, W]
                x = (img.float() - mean).div_(std)[None]  # [1, 3, H, W]
                logits = torch.from_numpy(network(x.numpy()))  # [1, K, h, w]
                logits = F.interpolate(
                    logits, tuple(sample.ori_shape), mode='bilinear',
                    align_corners=align_corners)[0]  # [K, H, W]
                out = SegDataSample(metainfo=sample.metainfo)
                out.seg_logits = PixelData(data=logits)
                out.pred_sem_seg = PixelData(
                    data=logits.max(dim=0, keepdim=True)[1])  # [1, H, W]
                samples.append(out)
        return samples
    return run


def reference_of(name: str) -> Optional[str]:
    """The path a toolbox path is held against: the runtime called
    directly for a runtime in ``test_step``, mmsegmentation's model for the
    plain model."""
    if name == 'plain':
        return 'mmseg'
    return name + DIRECT if name + DIRECT in PATHS else None


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


def build_paths(cfg, model, onnx_file: str, names: List[str],
                batches: List[dict]) -> Dict[str, Callable]:
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
        elif name == 'openvino-int8':
            int8 = init_model(cfg, quantized_file(cfg, onnx_file, batches))

            def run(batch, int8=int8):  # as benchmark.py
                with torch.no_grad():
                    return int8.test_step(batch)
        elif name == 'mmseg':
            run = mmseg_runner(cfg, model)
            if run is None:
                print(f'{name}: skipped, mmsegmentation is not installed '
                      '(pip install --no-deps mmsegmentation==1.2.2)')
                continue
        elif name.endswith(DIRECT):
            if (model.test_cfg or {}).get('mode') == 'slide':
                print(f'{name}: skipped, written for whole inference')
                continue
            run = direct_runner(cfg, onnx_file, name)
        else:
            backend, precision = name.split('-')
            segmentor = init_model(
                cfg, onnx_file, backend=backend,
                amp='bf16' if precision == 'bf16' else None)
            segmentor._run = clocked(name, segmentor._run)

            def run(batch, segmentor=segmentor):  # as benchmark.py
                with torch.no_grad():
                    return segmentor.test_step(batch)
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
    batches = random_batches(shape, args.num_images)
    runners = build_paths(cfg, model, onnx_file,
                          paired_order(args.paths), batches)
    mode = 'slide' if slide else 'whole'
    print(f'settings: config={osp.basename(args.config)}, image '
          f'{shape[0]}x{shape[1]}, test_cfg.mode={mode}, '
          f'{device_description("cpu")}, torch {torch.__version__}',
          flush=True)
    outputs = {name: run(batches[0]) for name, run in runners.items()}
    times: Dict[str, List[float]] = {name: [] for name in runners}
    outside: Dict[str, List[float]] = {name: [] for name in runners}
    for round_ in range(args.repeat):
        # every other round backwards: each path of a pair goes first as
        # often as the other (what ran before can slow the next one)
        order = list(runners.items())
        for name, run in order[::-1] if round_ % 2 else order:
            RUNTIME_SECONDS.pop(name, None)
            start = time.perf_counter()
            for batch in batches:
                run(batch)
            seconds = time.perf_counter() - start
            times[name].append(1000 * seconds / len(batches))
            if name in RUNTIME_SECONDS:
                outside[name].append(1000 * (
                    seconds - RUNTIME_SECONDS[name]) / len(batches))
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
