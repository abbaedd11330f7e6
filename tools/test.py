"""Evaluate a checkpoint on the config's test set with mmengine's Runner.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --aug-test
    python tools/test.py CONFIG model.onnx --backend openvino
    python tools/test.py CONFIG CHECKPOINT --out preds --show-dir overlays
    python tools/test.py CONFIG CHECKPOINT --out submission --format-only \\
        --cfg-options test_dataloader.dataset.data_prefix.img_path=leftImg8bit/test
"""  # noqa: E501
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config, ConfigDict

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import build_runner
from emanet.apis.utils import opacity_type
from emanet.config import CfgOptionsAction, load_config, work_dir_source
from emanet.datasets.demo_data import prepare_demo_data
from emanet.deploy.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    backend_model_cfg,
    is_exported_model,
    onnx_input_shape,
)
from emanet.engine.hooks.fast_inference_hook import (
    check_fast_inference_options,
)
from emanet.engine.work_dir import check_work_dir
from emanet.evaluation import IoUMetric
from emanet.registry import METRICS
from emanet.utils.errors import DEBUG_HELP, ConfigError, UserError, run_tool

# Where the per-class table of the test metric goes, in the work dir.
PER_CLASS_JSON = 'test_per_class.json'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or an .onnx model of '
        'tools/deployment/pytorch2onnx.py run by --backend')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help=f'runtime of an .onnx model (default {DEFAULT_BACKEND}). Fastest '
        'CPU paths measured: bf16 --backend openvino --amp (where bf16 is '
        'native), float32 --fast on the checkpoint (docs/benchmark.md)')
    parser.add_argument(
        '--work-dir',
        help='folder for logs and test_metrics.json '
        '(default: work_dirs/<config name>)')
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
    if args.aug_test and None not in onnx_input_shape(args.checkpoint):
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


def request_per_class(cfg: Config) -> Optional[str]:
    """Have the first test metric with a per-class table write it.

    Returns:
        str | None: the JSON file it writes (``per_class_file``; by default
        ``<work_dir>/test_per_class.json``), or None when no test metric
        keeps such a table.
    """
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    for evaluator in evaluators:
        metric = METRICS.get(evaluator.get('type'))
        if isinstance(metric, type) and issubclass(metric, IoUMetric):
            evaluator.setdefault('per_class_file',
                                 osp.join(cfg.work_dir, PER_CLASS_JSON))
            return evaluator['per_class_file']
    return None


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Test; returns the metrics ({} with --format-only)."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    prepare_demo_data(cfg)  # the data sets only read
    if not is_exported_model(args.checkpoint):
        cfg.fast_inference = fast_inference_options(cfg, args.fast, args.amp)
    per_class_file = None if args.format_only else request_per_class(cfg)
    runner = build_runner(cfg)
    start = time.time()
    metrics = dict(runner.test() or {})
    if runner.rank != 0:
        return metrics
    per_class = None
    if per_class_file is not None and osp.isfile(per_class_file):
        with open(per_class_file, encoding='utf-8') as f:
            per_class = json.load(f)
    record = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        aug_test=args.aug_test,
        num_images=len(runner.test_dataloader.dataset),
        seconds=round(time.time() - start, 1),
        metrics=metrics,
        per_class=per_class)
    json_path = osp.join(cfg.work_dir, 'test_metrics.json')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=2)
    if args.format_only:
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
