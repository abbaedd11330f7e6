"""Export a segmentor to ONNX and check it against PyTorch.

The file holds the network on normalised inputs (``input`` ``[B, 3, H, W]``
-> ``logits`` ``[B, K, H/8, W/8]``); the config's data preprocessor,
whole/slide inference, resize and argmax run in Python around it
(``tools/test.py CONFIG model.onnx``). ``--output prob`` or ``label`` puts
the resizes and the softmax or the argmax into the file (a second input,
``output_size``, says the size wanted): probabilities ``[B, K, H0, W0]`` or
labels ``[B, 1, H0, W0]`` (uint8) for an application reading the file
itself. Classes, palette and the output are stored in the file's metadata.

Examples::

    python tools/deployment/pytorch2onnx.py CONFIG CKPT \\
        --output-file model.onnx --dynamic-export --verify
    python tools/deployment/pytorch2onnx.py CONFIG CKPT \\
        --output-file model_label.onnx --dynamic-export --output label
    python tools/test.py CONFIG model.onnx --backend openvino
"""
import argparse
import sys
import time
from typing import List, Optional

import torch

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import init_model
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import positive_int
from emanet.config import CfgOptionsAction, load_config
from emanet.deploy.runtime.backends import DEFAULT_BACKEND
from emanet.deploy.runtime.export import OUTPUTS, export_onnx
from emanet.utils.benchmarking import (
    compare,
    load_test_batches,
    network_input_shape,
    random_batches,
)
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.output_paths import check_output_file

MIN_AGREEMENT = 0.999


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (random weights if omitted)')
    parser.add_argument('--output-file', default='model.onnx',
                        help='ONNX file to write (default: model.onnx in '
                        'the current folder)')
    parser.add_argument('--shape', type=positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help='traced input size (default: the slide crop, '
                        'else the test image size); the only size a '
                        'static export takes')
    parser.add_argument('--dynamic-export', action='store_true',
                        help='dynamic batch, height and width (needed '
                        'for --aug-test and images of several sizes)')
    parser.add_argument('--output', choices=OUTPUTS, default='logits',
                        help='what the file outputs: the decode head\'s '
                        'logits at 1/8 of the input (default), or, after '
                        'the resizes to the size given as its second input '
                        'output_size, the class probabilities (prob) or '
                        'the labels (label, argmax; whole inference only, '
                        'no --aug-test)')
    parser.add_argument('--opset-version', type=positive_int, default=17)
    parser.add_argument('--verify', action='store_true',
                        help='run the file in ONNX Runtime on a test set '
                        'image (random if none) against PyTorch; exit 1 '
                        f'below {100 * MIN_AGREEMENT:g}%% equal pixels')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys')
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    return parser.parse_args(argv)


def verify(cfg, model, output_file: str, output: str = 'logits') -> float:
    """Share of pixels where ONNX Runtime predicts PyTorch's class."""
    batch = load_test_batches(cfg, 1) or random_batches(
        network_input_shape(cfg), 1)
    exported = init_model(cfg, output_file, backend=DEFAULT_BACKEND)
    with torch.no_grad():
        expected = model.test_step(batch[0])
    max_diff, agreement = compare(expected, exported.test_step(batch[0]),
                                  normalise=output == 'prob')
    scores = {'logits': f'max |dlogit| {max_diff:.3g}, ',
              'prob': f'max |dlog-probability| {max_diff:.3g}, '}
    print(f'verify (onnxruntime vs PyTorch, one image): '
          f'{scores.get(output, "")}equal pixels {100 * agreement:.4f}%')
    return agreement


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    check_output_file(args.output_file, '--output-file', suffixes=('.onnx', ),
                      what='model', folder_must_exist=True)
    cfg = load_config(args.config, args.cfg_options)
    # --verify compares on a test set image
    prepare_tool_run(cfg, model_file=args.checkpoint,
                     model_what='checkpoint', demo_data=args.verify)
    model = init_model(cfg, args.checkpoint, device='cpu')
    shape = tuple(args.shape) if args.shape else network_input_shape(cfg)
    start = time.perf_counter()
    export_onnx(model, args.output_file, shape, args.dynamic_export,
                args.opset_version, model.dataset_meta, args.output)
    kind = 'dynamic N x 3 x H x W' if args.dynamic_export else \
        f'static 1x3x{shape[0]}x{shape[1]}'
    print(f'exported {args.output_file} ({kind} input, {args.output} '
          f'output, opset {args.opset_version}) in '
          f'{time.perf_counter() - start:.1f} s; onnx.checker passed')
    if args.verify and verify(cfg, model, args.output_file,
                              args.output) < MIN_AGREEMENT:
        print(f'verify failed: under {100 * MIN_AGREEMENT:g}% of pixels '
              'equal', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
