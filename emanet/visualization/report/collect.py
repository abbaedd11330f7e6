"""Per-image statistics of a test run and the tables built from them.

Each image keeps one small confusion matrix ``[C, C]`` (rows: ground
truth, columns: prediction, ignored pixels left out), the counts
:class:`~emanet.evaluation.IoUMetric` adds up; the images, the set's
per-class table and its confusion matrix all come from these, so the
report's numbers are the metric's.
"""
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from emanet.evaluation.iou import scores_from_confusion

# How many of an image's classes the gallery names as most wrong.
WORST_CLASSES = 3


def summarize_image(counts: np.ndarray, classes: Sequence[str],
                    top: int = WORST_CLASSES) -> Dict[str, Any]:
    """What the gallery shows of one image.

    Args:
        counts: the image's ``[C, C]`` confusion counts.
        classes: the C class names.
        top: how many of the most wrong classes to name.

    Returns:
        dict: ``mIoU`` (percent, mean over the classes in its ground
        truth or prediction; None without labelled pixels), ``iou``
        (class index -> IoU percent, classes with pixels only), ``worst``
        (up to ``top`` dicts ``class``, ``iou``, ``wrong``: the classes
        that pull the image's mIoU down most, lowest IoU first, ties by
        more wrong pixels, missed plus wrongly predicted), ``labelled``
        and ``wrong`` pixel counts.
    """
    counts = np.asarray(counts, dtype=np.int64)
    ious = scores_from_confusion(counts)['IoU'] * 100  # [C], NaN: absent
    inter = np.diag(counts)
    wrong = counts.sum(0) + counts.sum(1) - 2 * inter  # [C] missed + extra
    present = np.flatnonzero(~np.isnan(ious))
    order = sorted((int(c) for c in present if wrong[c] > 0),
                   key=lambda c: (ious[c], -int(wrong[c]), c))[:top]
    return dict(
        mIoU=round(float(np.mean(ious[present])), 2) if present.size
        else None,
        iou={int(c): round(float(ious[c]), 2) for c in present},
        worst=[dict(**{'class': classes[c]}, iou=round(float(ious[c]), 2),
                    wrong=int(wrong[c])) for c in order],
        labelled=int(counts.sum()),
        wrong=int(counts.sum() - inter.sum()))


def worst_first(images: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Images by ``mIoU`` ascending; those without one last, by name.

    Ties keep the test order (the sort is stable).
    """
    return sorted(images, key=lambda im: (im['mIoU'] is None,
                                          im['mIoU'] or 0.0))


def _plain(value: float) -> Optional[float]:
    """A float for JSON: None for NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value


def class_table(counts: np.ndarray, classes: Sequence[str],
                iou_metrics: Sequence[str] = ('mIoU', ),
                nan_to_num: Optional[float] = None,
                beta: float = 1) -> Dict[str, list]:
    """The metric's per-class table, plus each class's pixel share.

    The scores are :class:`~emanet.evaluation.IoUMetric`'s, computed and
    rounded as it does (percent, 2 decimals), so they equal the table
    ``tools/test.py`` prints and writes.

    Args:
        counts: the set's ``[C, C]`` confusion counts.
        classes: the C class names.
        iou_metrics, nan_to_num, beta: the metric's settings.

    Returns:
        dict: ``Class`` (names), one list per score (``IoU``, ``Acc``,
        ...; None for NaN) and ``Pixels`` (percent of the labelled
        ground-truth pixels).
    """
    scores = scores_from_confusion(np.asarray(counts), iou_metrics,
                                    nan_to_num, beta)
    table: Dict[str, list] = dict(Class=list(classes))
    for key, value in scores.items():
        if key != 'aAcc':
            table[key] = [_plain(round(float(v) * 100, 2)) for v in value]
    gt_pixels = np.asarray(counts, dtype=np.float64).sum(1)  # [C]
    total = gt_pixels.sum()
    table['Pixels'] = [
        round(float(v) / total * 100, 2) if total else None
        for v in gt_pixels
    ]
    return table
