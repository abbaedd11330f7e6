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
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.runner import Runner

import emanet  # noqa: F401  (creates the 'emanet' registry scope)
from emanet.apis import (
    CfgOptionsAction,
    build_runner,
    load_config,
    prepare_launch,
)
from emanet.apis.utils import opacity_type, work_dir_source
from emanet.deploy.backends import is_onnx_file
from emanet.utils.checkpoint import check_work_dir
from emanet.utils.errors import (
    DEBUG_HELP,
    ConfigError,
    ConfigTypeError,
    run_tool,
)


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
        choices=['onnxruntime', 'openvino'],
        help='runtime of an .onnx model (default onnxruntime). Fastest '
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


class ProgressBarHook(Hook):
    """A tqdm bar with ETA over the test images (main process only)."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.bar = None

    def before_test_epoch(self, runner) -> None:
        if is_main_process():
            from tqdm import tqdm
            total = len(runner.test_dataloader.dataset)
            self.bar = tqdm(total=total, unit='img', desc='test',
                            dynamic_ncols=True)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        if self.bar is not None:
            done = len(outputs) * get_world_size() if outputs else 0
            self.bar.update(min(done, self.bar.total - self.bar.n))

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class FastInferenceHook(Hook):
    """Switch the loaded model to the inference fast path before testing.

    Runs at ``before_test``, after the Runner has loaded the checkpoint
    (folding BatchNorm rewrites the weights, so it must come after).

    Args:
        options (dict): keyword arguments of
            :func:`emanet.deploy.prepare_for_inference`.
    """

    priority = 'VERY_HIGH'

    def __init__(self, options: dict) -> None:
        self.options = options

    def before_test(self, runner) -> None:
        from mmengine.model import BaseTTAModel, is_model_wrapper

        from emanet.deploy import prepare_for_inference
        model = runner.model
        if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        prepare_for_inference(model, **self.options)


def fast_inference_options(cfg: Config, fast: bool,
                           amp: bool) -> Optional[dict]:
    """``prepare_for_inference`` options from the flags and the config.

    The config key ``fast_inference`` (a dict of those options, ``{}`` for
    the defaults) turns the fast path on like ``--fast``; ``--amp`` adds
    autocast. ``--amp`` alone keeps BatchNorm and the NCHW layout.

    Returns:
        dict | None: the options, or None for the plain model.
    """
    import inspect

    from emanet.deploy import prepare_for_inference
    options = cfg.get('fast_inference')
    if options is None and not (fast or amp):
        return None
    if options is not None and not isinstance(options, dict):
        raise ConfigTypeError('fast_inference in the config must be a dict '
                              'of prepare_for_inference options, got '
                              f'{options!r}')
    known = set(inspect.signature(prepare_for_inference).parameters)
    known -= {'model', 'example_inputs'}
    unknown = sorted(set(options or {}) - known)
    if unknown:
        raise ConfigError(f'fast_inference in the config has unknown '
                          f'option(s) {unknown}; known: {sorted(known)}')
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
    from emanet.deploy.backends import backend_model_cfg, onnx_input_shape
    from emanet.utils.errors import UserError
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
    if is_onnx_file(args.checkpoint):
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
    prepare_launch(cfg, args.launcher)
    return cfg


def per_class_scores(runner: Runner) -> Optional[dict]:
    """The per-class table of the test metric, when it keeps one."""
    for metric in runner.test_loop.evaluator.metrics:
        table = getattr(metric, 'per_class', None)
        if table:
            # NaN (class absent from prediction and ground truth) -> null
            return {
                k: [None if isinstance(x, float) and x != x else x
                    for x in v]
                for k, v in table.items()
            }
    return None


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    """Test; returns the metrics ({} with --format-only)."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    options = None if is_onnx_file(args.checkpoint) else \
        fast_inference_options(cfg, args.fast, args.amp)
    runner = build_runner(cfg)
    runner.register_hook(ProgressBarHook())
    if options is not None:
        runner.register_hook(FastInferenceHook(options))
    start = time.time()
    metrics = dict(runner.test() or {})
    if runner.rank != 0:
        return metrics
    record = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        aug_test=args.aug_test,
        num_images=len(runner.test_dataloader.dataset),
        seconds=round(time.time() - start, 1),
        metrics=metrics,
        per_class=per_class_scores(runner))
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
