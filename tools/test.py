"""Evaluate a checkpoint on the config's test set with mmengine's Runner.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --aug-test
    python tools/test.py CONFIG CHECKPOINT --out-metrics results/run1.json
    python tools/test.py CONFIG model.onnx --backend openvino
    python tools/test.py CONFIG CHECKPOINT --out preds --show-dir overlays
    python tools/test.py CONFIG CHECKPOINT --aug-test --out-probs probs
    python tools/test.py CONFIG CHECKPOINT --report report  # report/index.html
    python tools/test.py CONFIG CHECKPOINT --out submission --format-only \\
        --cfg-options test_dataloader.dataset.data_prefix.img_path=leftImg8bit/test
"""  # noqa: E501
import argparse
import os
import sys
from typing import Dict, List, Optional

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis.testing import SegTestOptions, build_test_cfg, run_test
from emanet.apis.tool_run import prepare_tool_run
from emanet.apis.utils import opacity_type
from emanet.config import CfgOptionsAction
from emanet.deploy.runtime.backends import BACKENDS, DEFAULT_BACKEND
from emanet.engine.run_record import RECORD_NAME
from emanet.utils.errors import DEBUG_HELP, run_tool
from emanet.utils.prob_io import PROB_FORMATS


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or an .onnx model of '
        'tools/deployment/pytorch2onnx.py run by --backend, or an int8 '
        '.xml of tools/deployment/quantize.py (OpenVINO)')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help=f'runtime of an .onnx model (default {DEFAULT_BACKEND}; an '
        '.xml runs in openvino). Fastest '
        'CPU paths measured: bf16 --backend openvino --amp (where bf16 is '
        'native), float32 --fast on the checkpoint (docs/benchmark.md)')
    parser.add_argument(
        '--work-dir',
        help='folder of the run\'s log folder <work dir>/<timestamp>/, '
        'which also gets the test-time config and test_metrics.json '
        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--out-metrics',
        metavar='PATH',
        help='write the run\'s record (metrics, per-class table and the '
        'settings: config, model file, backend, mode, --fast, --amp, '
        'device, ...) to this JSON file (default: <work dir>/<timestamp>/'
        f'{RECORD_NAME})')
    parser.add_argument(
        '--aug-test',
        '--tta',
        dest='aug_test',
        action='store_true',
        help='multi-scale + flip test from the config\'s tta_pipeline, '
        'softmax probabilities averaged over the views')
    parser.add_argument(
        '--out',
        help='folder for one prediction PNG per image (train ids; '
        'Cityscapes label ids with --format-only)')
    parser.add_argument(
        '--out-probs',
        metavar='DIR',
        help='folder for each image\'s class probabilities, named as '
        '--out names its PNGs: <name>.npz holding "prob" [C, H, W] float16 '
        '(--aug-test: the mean softmax of the views), or with '
        '--probs-format png the top class\'s probability as a uint8 PNG')
    parser.add_argument(
        '--probs-format',
        choices=PROB_FORMATS,
        default='npz',
        help='format of the --out-probs files (default npz)')
    parser.add_argument(
        '--format-only',
        action='store_true',
        help='only write Cityscapes labelIds PNGs to --out for the '
        'evaluation server; needs no ground truth')
    parser.add_argument(
        '--report',
        metavar='DIR',
        help='write an evaluation report to DIR/index.html (opens from disk '
        'in a browser): settings, metrics, sortable per-class table, '
        'confusion matrix, and the images worst mIoU first with their '
        'ground truth, prediction and errors, filterable by class')
    parser.add_argument(
        '--show-dir',
        help='folder for colour overlays of each image and its prediction')
    parser.add_argument(
        '--opacity',
        type=opacity_type,
        default=0.5,
        help='opacity of the --show-dir overlays, in (0, 1]')
    parser.add_argument(
        '--allow-partial-weights',
        action='store_true',
        help='load a checkpoint that lacks some weights of the model or '
        'holds others (e.g. a backbone only); without it such a checkpoint '
        'is refused, naming the keys. Same as allow_partial_weights=True in '
        'the config')
    parser.add_argument(
        '--fast',
        action='store_true',
        help='inference fast path: BatchNorm folded into the convolutions, '
        'channels_last, inference mode; on CPU in float32 also Winograd 3x3 '
        'convolutions and fused conv+ReLU (same predictions; the fastest '
        'float32 CPU path measured). A config key fast_inference=dict(...) '
        'of prepare_for_inference options turns it on too. For bf16 on CPU '
        'an exported model is faster: pytorch2onnx.py, then --backend '
        'openvino --amp (docs/benchmark.md)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='bfloat16 autocast (float16 on GPUs without bf16; the EM '
        'iterations stay float32), or bf16 in openvino for an .onnx model; '
        'float32, with a log line saying why, on CPUs that would emulate '
        'bf16')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config keys, e.g. test_dataloader.batch_size=1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if args.format_only and not args.out:
        parser.error('--format-only needs --out DIR for the PNGs')
    if args.format_only and args.report:
        parser.error('--report compares predictions with the ground truth, '
                     'which --format-only runs have not')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Test; returns the metrics ({} with --format-only)."""
    args = parse_args(argv)
    options = SegTestOptions.from_args(args)
    cfg = build_test_cfg(options)
    # the data sets only read: missing demo data is generated here
    prepare_tool_run(cfg, demo_data=True, splits=('test', ), scope=False)
    metrics, record_file = run_test(cfg, options)
    if record_file is None:  # not the main process
        return metrics
    if args.format_only:
        print(f'record saved to {record_file}', flush=True)
        print(f'mIoU: n/a (--format-only: PNGs written to {args.out})',
              flush=True)
    else:
        summary = ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items()
                            if k != 'mIoU' and isinstance(v, float))
        print(f'metrics saved to {record_file}; {summary}', flush=True)
        print(f'mIoU: {metrics.get("mIoU", float("nan")):.2f}', flush=True)
    return metrics


if __name__ == '__main__':
    sys.exit(run_tool(main))
