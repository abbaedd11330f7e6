"""IoUMetric: aAcc / mIoU / mAcc (and mDice, mFscore) over a whole set."""
import json
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.logging import MMLogger, print_log

from emanet.registry import METRICS
from emanet.utils.atomic_io import atomic_write_text
from emanet.utils.image_io import write_png

from ..iou import confusion_counts, scores_from_confusion

ALLOWED_METRICS = ('mIoU', 'mDice', 'mFscore')


def format_table(columns: 'OrderedDict[str, list]') -> str:
    """Plain text table, one column per key."""
    cells = OrderedDict(
        (k, [f'{v:.2f}' if isinstance(v, float) else str(v) for v in vals])
        for k, vals in columns.items())
    widths = [max(len(k), *(len(v) for v in vals))
              for k, vals in cells.items()]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    lines = [rule, '| ' + ' | '.join(
        k.ljust(w) for k, w in zip(cells, widths)) + ' |', rule]
    for row in zip(*cells.values()):
        lines.append('| ' + ' | '.join(
            v.ljust(w) for v, w in zip(row, widths)) + ' |')
    lines.append(rule)
    return '\n'.join(lines)


@METRICS.register_module()
class IoUMetric(BaseMetric):
    """Segmentation scores from one confusion matrix over the whole set.

    ``process`` adds each sample's ``[num_classes, num_classes]`` confusion
    matrix (at the label's own resolution) to ``results``; mmengine gathers
    them from all ranks, cutting the sampler's padding so each sample
    counts once, and ``compute_metrics`` sums them. Scores are percentages
    rounded to 2 decimals like mmsegmentation 1.x; classes absent from
    both prediction and ground truth are NaN and left out of the means.

    Args:
        ignore_index: label value left out of the evaluation.
        iou_metrics: any of ``'mIoU'`` (IoU, Acc), ``'mDice'`` (Dice, Acc)
            and ``'mFscore'`` (Fscore, Precision, Recall).
        nan_to_num: replace NaN scores by this value.
        beta: weight of recall in the F-score.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering results.
        output_dir: if set, also write each prediction (class indices) as
            ``<image basename>.png`` there.
        format_only: only write the predictions (needs no ground truth).
        prefix: prefix of the metric names (none by default: they are
            ``mIoU``, ``aAcc``, ... as in mmsegmentation; the loops log them
            as ``val/mIoU`` or ``test/mIoU``).
        per_class_file: if set, each evaluation (every validation during
            training too) also writes its per-class table
            (:attr:`per_class`) to this JSON file, by the main process.

    Attributes:
        per_class (dict | None): the per-class table of the last
            evaluation, in the main process (None elsewhere, before the
            first, and after a ``format_only`` one): ``{"Class": [names],
            "IoU": [percent], "Acc": [...], ...}`` as logged, NaN (a class
            absent from both prediction and ground truth) as None. The
            test record and the report take it from here.
    """

    default_prefix: Optional[str] = ''

    def __init__(self,
                 ignore_index: int = 255,
                 iou_metrics: Union[str, Sequence[str]] = ('mIoU', ),
                 nan_to_num: Optional[int] = None,
                 beta: int = 1,
                 collect_device: str = 'cpu',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 prefix: Optional[str] = None,
                 per_class_file: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(iou_metrics, str):
            iou_metrics = [iou_metrics]
        unknown = set(iou_metrics) - set(ALLOWED_METRICS)
        if unknown:
            raise KeyError(f'iou_metrics {sorted(unknown)} not supported; '
                           f'choose from {ALLOWED_METRICS}')
        if format_only and not output_dir:
            raise ValueError('format_only=True needs an output_dir')
        self.ignore_index = ignore_index
        self.metrics = list(iou_metrics)
        self.nan_to_num = nan_to_num
        self.beta = beta
        self.output_dir = output_dir
        self.format_only = format_only
        self.per_class_file = per_class_file
        self.per_class: Optional[Dict[str, list]] = None
        if self.output_dir and is_main_process():
            os.makedirs(self.output_dir, exist_ok=True)

    @property
    def num_classes(self) -> int:
        meta = self.dataset_meta or {}
        if 'classes' not in meta:
            raise ValueError(f'{type(self).__name__} needs dataset_meta '
                             "with 'classes' (set by the Runner from the "
                             'data set)')
        return len(meta['classes'])

    def sample_confusion(self, data_sample: dict) -> np.ndarray:
        """Confusion matrix of one sample, checking the shapes agree."""
        pred = data_sample['pred_sem_seg']['data'].squeeze(0)  # [H, W]
        label = data_sample['gt_sem_seg']['data'].squeeze(0)  # [H, W]
        if pred.shape != label.shape:
            raise ValueError(
                f'prediction {tuple(pred.shape)} and ground truth '
                f'{tuple(label.shape)} of {data_sample.get("img_path")} '
                'differ in size; predictions must be at the original label '
                'resolution')
        num_classes = self.num_classes
        try:
            return confusion_counts(pred, label, num_classes,
                                    self.ignore_index)
        except ValueError:  # predictions outside the classes
            raise ValueError(
                f'prediction of {data_sample.get("img_path")} has values '
                f'outside 0..{num_classes - 1}; the model\'s num_classes '
                f'must match the data set\'s {num_classes} classes'
            ) from None

    def _write_prediction(self, data_sample: dict) -> None:
        os.makedirs(self.output_dir, exist_ok=True)
        pred = data_sample['pred_sem_seg']['data'][0].cpu().numpy()
        if data_sample.get('reduce_zero_label', False):
            pred = pred + 1  # back to the data set's label values
        name = osp.splitext(osp.basename(data_sample['img_path']))[0]
        write_png(osp.join(self.output_dir, f'{name}.png'),
                  pred.astype(np.uint8))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store one confusion matrix per sample (and write predictions)."""
        for data_sample in data_samples:
            if not self.format_only:
                self.results.append(self.sample_confusion(data_sample))
            if self.output_dir is not None:
                self._write_prediction(data_sample)

    def evaluate(self, size: int) -> dict:
        """mmengine's evaluation; :attr:`per_class` is this one's table."""
        self.per_class = None
        return super().evaluate(size)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the confusion matrices and turn them into scores."""
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            print_log(f'results are saved to {self.output_dir}', logger)
            return OrderedDict()
        if not results:
            raise ValueError('no sample was evaluated')
        return self.summarize(np.sum(results, axis=0), logger)

    def summarize(self, hist: np.ndarray,
                  logger: Optional[MMLogger] = None) -> Dict[str, float]:
        """Scores in percent from a summed confusion matrix; logs a table.

        Returns:
            ``aAcc``, ``mIoU``, ``mAcc`` (and ``mDice``, ``mFscore``,
            ``mPrecision``, ``mRecall`` when asked), rounded to 2 decimals.
        """
        scores = scores_from_confusion(hist, self.metrics, self.nan_to_num,
                                        self.beta)
        summary: Dict[str, float] = OrderedDict()
        for key, value in scores.items():
            name = key if key == 'aAcc' else 'm' + key
            mean = np.nanmean(value) if np.isfinite(value).any() else np.nan
            summary[name] = round(float(mean) * 100, 2)
        table = OrderedDict(Class=list(self.dataset_meta['classes']))
        for key, value in scores.items():
            if key != 'aAcc':
                table[key] = [round(float(v) * 100, 2) for v in value]
        print_log('per class results:', logger)
        print_log('\n' + format_table(table), logger=logger)
        self.per_class = {
            key: [None if isinstance(v, float) and math.isnan(v) else v
                  for v in values]
            for key, values in table.items()
        }
        if self.per_class_file:
            self.write_per_class()
        return summary

    def write_per_class(self) -> None:
        """Write :attr:`per_class` to ``per_class_file`` (NaN as null)."""
        folder = osp.dirname(osp.abspath(self.per_class_file))
        os.makedirs(folder, exist_ok=True)
        atomic_write_text(self.per_class_file,
                          json.dumps(self.per_class, indent=2))


def iou_metric_of(evaluator: Evaluator) -> Optional[IoUMetric]:
    """The first :class:`IoUMetric` (or subclass) of a Runner's evaluator.

    Args:
        evaluator: e.g. ``runner.test_evaluator``.

    Returns:
        IoUMetric | None: the metric whose :attr:`~IoUMetric.per_class`
        and settings the test record and the report use; None when the
        evaluator has none.
    """
    return next((metric for metric in evaluator.metrics
                 if isinstance(metric, IoUMetric)), None)
