"""A test run from the options of ``tools/test.py``.

:func:`build_test_cfg` turns the options into the config mmengine's
Runner tests with (the model or exported model, the pipelines, evaluators and
hooks); :func:`run_test` runs it and writes the run's record
(:mod:`emanet.engine.run_record`) with the metric's per-class table.
"""
import argparse
import dataclasses
import time
from typing import Any, Dict, Optional, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.device import get_device

from emanet.config import load_config, work_dir_source
from emanet.deploy.runtime.backend_option import check_backend_option
from emanet.deploy.runtime.backends import backend_model_cfg, backend_of
from emanet.deploy.runtime.model_files import is_exported_model, read_exported
from emanet.engine.hooks.fast_inference_hook import (
    check_fast_inference_options,
)
from emanet.engine.run_record import (
    build_test_record,
    record_path,
    run_mode,
    settings_line,
    write_record,
)
from emanet.engine.work_dir import check_work_dir
from emanet.evaluation.metrics.iou_metric import iou_metric_of
from emanet.utils.benchmarking import device_description
from emanet.utils.errors import ConfigError, UserError
from emanet.utils.output_paths import check_output_dir, check_output_file
from emanet.visualization.report.folder import check_report_dir

from .tool_run import prepare_tool_run
from .utils import build_runner


@dataclasses.dataclass(frozen=True)
class SegTestOptions:
    """What a test run is asked for: ``tools/test.py``'s options.

    Attributes:
        config, checkpoint: the config file and the checkpoint, ``.onnx``
            or int8 ``.xml`` model.
        backend: the runtime of an exported model (None: its default).
        work_dir, out_metrics: the work dir and the record's path
            (default ``<work dir>/<timestamp>/test_metrics.json``).
        aug_test: test-time augmentation from the config's
            ``tta_pipeline`` and ``tta_model``.
        out, format_only: a folder for the prediction PNGs; only those
            (Cityscapes label ids, no ground truth needed).
        out_probs, probs_format: a folder for each image's class
            probabilities, and their format
            (:data:`~emanet.utils.prob_io.PROB_FORMATS`).
        report: a folder for the HTML evaluation report.
        show_dir, opacity: a folder for colour overlays, their opacity.
        allow_partial_weights: load a checkpoint that does not fit whole.
        fast, amp: the inference fast path; mixed precision.
        cfg_options, launcher: config overrides; the job launcher.
    """

    config: str
    checkpoint: str
    backend: Optional[str] = None
    work_dir: Optional[str] = None
    out_metrics: Optional[str] = None
    aug_test: bool = False
    out: Optional[str] = None
    format_only: bool = False
    out_probs: Optional[str] = None
    probs_format: str = 'npz'
    report: Optional[str] = None
    show_dir: Optional[str] = None
    opacity: float = 0.5
    allow_partial_weights: bool = False
    fast: bool = False
    amp: bool = False
    cfg_options: Optional[Dict[str, Any]] = None
    launcher: str = 'none'

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> 'SegTestOptions':
        """The options of a parsed command line, by their names."""
        given = vars(args)
        return cls(**{field.name: given[field.name]
                      for field in dataclasses.fields(cls)
                      if field.name in given})


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


def _use_exported_model(cfg: Config, options: SegTestOptions) -> None:
    """Make ``cfg.model`` the backend segmentor of an exported file."""
    if options.fast or cfg.get('fast_inference') is not None:
        raise UserError(f'{options.checkpoint}: --fast and fast_inference '
                        'are for PyTorch checkpoints; an exported model runs '
                        'as its runtime optimises it')
    info = read_exported(options.checkpoint)
    if options.aug_test and None not in info.input_shape:
        raise UserError(f'--aug-test runs views of several sizes, but '
                        f'{options.checkpoint} takes one input shape: '
                        'export it with --dynamic-export')
    if info.output == 'label' and (options.aug_test or options.out_probs):
        what = '--aug-test averages the class scores of its views' \
            if options.aug_test else '--out-probs needs class scores'
        raise UserError(f'{options.checkpoint} outputs labels only, but '
                        f'{what}: export with --output logits or prob '
                        '(tools/deployment/pytorch2onnx.py)')
    cfg.model = backend_model_cfg(cfg.model, options.checkpoint,
                                  options.backend, amp=options.amp or None)
    cfg.load_from = None


def check_test_outputs(options: SegTestOptions) -> None:
    """Refuse output paths that cannot be written, before any work.

    Raises:
        UserError: ``--out-metrics`` (a file), ``--out``, ``--show-dir``
            or ``--report`` (folders) cannot be written, or ``--report``
            holds something else than an earlier report.
    """
    if options.out_metrics:
        check_output_file(options.out_metrics, '--out-metrics')
    for option, path in (('--out', options.out),
                         ('--out-probs', options.out_probs),
                         ('--show-dir', options.show_dir)):
        if path:
            check_output_dir(path, option)
    if options.report:
        check_report_dir(options.report)


def build_test_cfg(options: SegTestOptions) -> Config:
    """The config of the test run ``options`` ask for.

    Raises:
        UserError: an option that cannot apply (``--backend`` with a
            checkpoint, ``--fast`` with an exported model, ...), an output
            path that cannot be written (:func:`check_test_outputs`), a
            missing model file or a work dir that is not one.
        ConfigError: ``--aug-test`` without ``tta_pipeline`` and
            ``tta_model`` in the config.
    """
    check_backend_option(options.checkpoint, options.backend)
    check_test_outputs(options)
    cfg = load_config(options.config, options.cfg_options, options.work_dir)
    check_work_dir(cfg.work_dir,
                   work_dir_source(cfg, options.config, options.work_dir))
    prepare_tool_run(cfg, model_file=options.checkpoint, scope=False)
    cfg.load_from = options.checkpoint
    cfg.resume = False
    if is_exported_model(options.checkpoint):
        _use_exported_model(cfg, options)
    if options.allow_partial_weights:
        cfg.allow_partial_weights = True

    dataset = cfg.test_dataloader.dataset
    if options.aug_test:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise ConfigError(f'--aug-test needs tta_pipeline and tta_model '
                              f'in {options.config}')
        dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if options.format_only:
        # No ground truth: neither loaded nor required to exist.
        dataset.pipeline = _drop_annotations(dataset.pipeline)
        dataset.get('data_prefix', {}).pop('seg_map_path', None)
        cfg.test_evaluator = dict(
            type='CityscapesMetric', output_dir=options.out,
            format_only=True)
    elif options.out:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            evaluator['output_dir'] = options.out
    if options.out_probs:
        cfg.custom_hooks = [*(cfg.get('custom_hooks') or []), dict(
            type='ProbabilityHook', out_dir=options.out_probs,
            fmt=options.probs_format)]
    if options.show_dir:
        hooks = cfg.setdefault('default_hooks', ConfigDict())
        vis = hooks.get('visualization') or dict(type='SegVisualizationHook')
        vis.update(draw=True, out_dir=options.show_dir,
                   opacity=options.opacity)
        hooks['visualization'] = vis
    cfg.custom_hooks = [*(cfg.get('custom_hooks') or []),
                        dict(type='ProgressBarHook')]
    cfg.launcher = options.launcher
    return cfg


def record_settings(options: SegTestOptions,
                    cfg: Config) -> Dict[str, Any]:
    """The settings of the run's record
    (:func:`~emanet.engine.run_record.build_test_record`)."""
    exported = is_exported_model(options.checkpoint)
    device = 'cpu' if exported else get_device()
    return dict(
        config=options.config,
        model_file=options.checkpoint,
        backend=backend_of(options.checkpoint, options.backend),
        mode=run_mode(cfg.model),
        fast=not exported and (options.fast or
                               cfg.get('fast_inference') is not None),
        amp=options.amp,
        aug_test=options.aug_test,
        format_only=options.format_only,
        device=device_description(device)
        if device in ('cpu', 'cuda') else device)


def report_hook_cfg(out_dir: str, settings: Dict[str, Any]) -> dict:
    """The ``custom_hooks`` entry of ``--report``.

    Raises:
        UserError: ``out_dir`` holds something else than a report.
    """
    check_report_dir(out_dir)  # before the model and data are loaded
    return dict(type='ReportHook', out_dir=out_dir, settings=dict(settings))


def run_test(cfg: Config, options: SegTestOptions
             ) -> Tuple[Dict[str, Any], Optional[str]]:
    """Test with ``cfg`` (of :func:`build_test_cfg`) and write the record.

    Returns:
        tuple: the metrics (``{}`` with ``format_only``), and the record
        file in the main process (None in the others).
    """
    settings = record_settings(options, cfg)
    if options.report:
        cfg.custom_hooks.append(report_hook_cfg(options.report, settings))
    if not is_exported_model(options.checkpoint):
        cfg.fast_inference = fast_inference_options(cfg, options.fast,
                                                    options.amp)
    runner = build_runner(cfg)
    runner.logger.info(settings_line(settings))
    start = time.time()
    metrics = dict(runner.test() or {})
    seconds = time.time() - start
    if runner.rank != 0:
        return metrics, None
    metric = iou_metric_of(runner.test_evaluator)
    record = build_test_record(
        **settings,
        timestamp=runner.timestamp,
        num_images=len(runner.test_dataloader.dataset),
        seconds=seconds,
        metrics=metrics,
        per_class=None if metric is None else metric.per_class)
    path = record_path(runner.log_dir, options.out_metrics)
    write_record(path, record)
    return metrics, path
