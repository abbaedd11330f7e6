"""Evaluate a checkpoint on the config's test set with mmengine's Runner.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --aug-test
    python tools/test.py CONFIG CHECKPOINT --out-metrics results/run1.json
    python tools/test.py CONFIG model.onnx --backend openvino
    python tools/test.py CONFIG CHECKPOINT --out preds --show-dir overlays
    python tools/test.py CONFIG CHECKPOINT --report report  # report/index.html
    python tools/test.py CONFIG CHECKPOINT --out submission --format-only \\
        --cfg-options test_dataloader.dataset.data_prefix.img_path=leftImg8bit/test
"""  # noqa: E501
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.device import get_device

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import build_runner
from emanet.apis.early_checks import check_data_folders, check_model_file
from emanet.apis.utils import opacity_type
from emanet.config import CfgOptionsAction, load_config, work_dir_source
from emanet.datasets.demo_data import prepare_demo_data
from emanet.deploy.runtime.backend_option import check_backend_option
from emanet.deploy.runtime.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    backend_model_cfg,
    backend_of,
)
from emanet.deploy.runtime.model_files import (
    exported_input_shape,
    is_exported_model,
)
from emanet.engine.hooks.fast_inference_hook import (
    check_fast_inference_options,
)
from emanet.engine.hooks.report_hook import report_hook_cfg
from emanet.engine.work_dir import check_work_dir
from emanet.evaluation import IoUMetric
from emanet.evaluation.test_record import (
    RECORD_NAME,
    record_path,
    settings_line,
    test_mode,
    test_record,
    write_record,
)
from emanet.registry import METRICS
from emanet.utils.benchmarking import device_description
from emanet.utils.errors import DEBUG_HELP, ConfigError, UserError, run_tool

# The per-class table of the test metric, read into the run's record.
PER_CLASS_JSON = 'test_per_class.json'


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
    if args.out_metrics and osp.isdir(args.out_metrics):
        parser.error(f'--out-metrics {args.out_metrics} is a folder; give '
                     'a file path, e.g. results/test_metrics.json')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def fast_inference_options(cfg: Config, fast: bool,
                           amp: bool) -> Optional[dict]:
    """``prepare_for_inference`` options from the flags and the config.

    The config key ``fast_inference`` (a dict of those options, ``{}`` for
    the defaults) turns the fast path on like ``--fast``; ``--amp`` adds
    autocast. ``--amp`` alone keeps BatchNorm and the NCHW layout.

    Returns:
        dict | None: the options (``SegRunner``'s ``fast_inference``), or
        None for the plain model.
    """
    options = cfg.get('fast_inference')
    if options is None and not (fast or amp):
        return None
    if options is not None:
        check_fast_inference_options(options)
    merged = {} if (fast or options is not None) else dict(
        fuse_bn=False, channels_last=False)
    merged.update(options or {})
    if amp:
        merged['amp'] = True
    return merged


def _drop_annotations(pipeline: list) -> list:
    """A pipeline without LoadAnnotations (also inside TestTimeAug)."""
    kept = []
    for t in pipeline:
        if t['type'] == 'LoadAnnotations':
            continue
        if t['type'] == 'TestTimeAug':
            t = dict(t)
            t['transforms'] = [
                _drop_annotations(group) for group in t['transforms']
            ]
            t['transforms'] = [g for g in t['transforms'] if g]
        kept.append(t)
    return kept


def use_exported_model(cfg: Config, args: argparse.Namespace) -> None:
    """Make ``cfg.model`` the backend segmentor of an ``.onnx`` file."""
    if args.fast or cfg.get('fast_inference') is not None:
        raise UserError(f'{args.checkpoint}: --fast and fast_inference are '
                        'for PyTorch checkpoints; an exported model runs as '
                        'its runtime optimises it')
    if args.aug_test and None not in exported_input_shape(
            args.checkpoint):
        raise UserError(f'--aug-test runs views of several sizes, but '
                        f'{args.checkpoint} takes one input shape: export '
                        'it with --dynamic-export')
    cfg.model = backend_model_cfg(cfg.model, args.checkpoint, args.backend,
                                  amp=args.amp or None)
    cfg.load_from = None


def setup_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options."""
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    check_work_dir(cfg.work_dir,
                   work_dir_source(cfg, args.config, args.work_dir))
    check_model_file(args.checkpoint, 'model file')  # before the dump
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if is_exported_model(args.checkpoint):
        use_exported_model(cfg, args)
    if args.allow_partial_weights:
        cfg.allow_partial_weights = True

    dataset = cfg.test_dataloader.dataset
    if args.aug_test:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise ConfigError(f'--aug-test needs tta_pipeline and tta_model '
                              f'in {args.config}')
        dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.format_only:
        # No ground truth: neither loaded nor required to exist.
        dataset.pipeline = _drop_annotations(dataset.pipeline)
        dataset.get('data_prefix', {}).pop('seg_map_path', None)
        cfg.test_evaluator = dict(
            type='CityscapesMetric', output_dir=args.out, format_only=True)
    elif args.out:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            evaluator['output_dir'] = args.out
    if args.show_dir:
        hooks = cfg.setdefault('default_hooks', ConfigDict())
        vis = hooks.get('visualization') or dict(type='SegVisualizationHook')
        vis.update(draw=True, out_dir=args.show_dir, opacity=args.opacity)
        hooks['visualization'] = vis
    cfg.custom_hooks = [*(cfg.get('custom_hooks') or []),
                        dict(type='ProgressBarHook')]
    cfg.launcher = args.launcher
    return cfg


def request_per_class(cfg: Config, folder: str) -> Optional[str]:
    """Have the first test metric with a per-class table write it.

    Args:
        cfg: the test config; its ``test_evaluator`` is changed.
        folder: where the table goes unless the metric's config names a
            ``per_class_file`` (the run's record holds the table anyway).

    Returns:
        str | None: the JSON file it writes (``per_class_file``; by default
        ``<folder>/test_per_class.json``), or None when no test metric
        keeps such a table.
    """
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    for evaluator in evaluators:
        metric = METRICS.get(evaluator.get('type'))
        if isinstance(metric, type) and issubclass(metric, IoUMetric):
            evaluator.setdefault('per_class_file',
                                 osp.join(folder, PER_CLASS_JSON))
            return evaluator['per_class_file']
    return None


def run_settings(args: argparse.Namespace, cfg: Config) -> dict:
    """The settings part of the run's record (:func:`test_record`)."""
    exported = is_exported_model(args.checkpoint)
    if exported:
        backend = backend_of(args.checkpoint, args.backend)
        device = 'cpu'
    else:
        backend, device = 'pytorch', get_device()
    return dict(
        config=args.config,
        model_file=args.checkpoint,
        backend=backend,
        mode=test_mode(cfg.model),
        fast=not exported and (args.fast or
                               cfg.get('fast_inference') is not None),
        amp=args.amp,
        aug_test=args.aug_test,
        format_only=args.format_only,
        device=device_description(device)
        if device in ('cpu', 'cuda') else device)


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Test; returns the metrics ({} with --format-only)."""
    args = parse_args(argv)
    check_backend_option(args.checkpoint, args.backend)
    cfg = setup_cfg(args)
    prepare_demo_data(cfg)  # the data sets only read
    check_data_folders(cfg, ('test', ))  # before the Runner's dump
    settings = run_settings(args, cfg)
    if args.report:
        cfg.custom_hooks.append(report_hook_cfg(args.report, settings))
    if not is_exported_model(args.checkpoint):
        cfg.fast_inference = fast_inference_options(cfg, args.fast, args.amp)
    # The per-class table goes into the record; its own file is temporary
    # (nothing is left in a shared work dir for the next run to replace).
    with tempfile.TemporaryDirectory(prefix='emanet_test_') as tmp:
        per_class_file = None if args.format_only else \
            request_per_class(cfg, tmp)
        runner = build_runner(cfg)
        runner.logger.info(settings_line(settings))
        start = time.time()
        metrics = dict(runner.test() or {})
        seconds = time.time() - start
        per_class = None
        if per_class_file is not None and osp.isfile(per_class_file):
            with open(per_class_file, encoding='utf-8') as f:
                per_class = json.load(f)
    if runner.rank != 0:
        return metrics
    record = test_record(
        **settings,
        timestamp=runner.timestamp,
        num_images=len(runner.test_dataloader.dataset),
        seconds=seconds,
        metrics=metrics,
        per_class=per_class)
    json_path = record_path(runner.log_dir, args.out_metrics)
    write_record(json_path, record)
    if args.format_only:
        print(f'record saved to {json_path}', flush=True)
        print(f'mIoU: n/a (--format-only: PNGs written to {args.out})',
              flush=True)
    else:
        summary = ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items()
                            if k != 'mIoU' and isinstance(v, float))
        print(f'metrics saved to {json_path}; {summary}', flush=True)
        print(f'mIoU: {metrics.get("mIoU", float("nan")):.2f}', flush=True)
    return metrics


if __name__ == '__main__':
    sys.exit(run_tool(main))
