"""Per-image statistics of a test run and the tables built from them.

Each image keeps one small confusion matrix ``[C, C]`` (rows: ground
truth, columns: prediction, ignored pixels left out), counted as
:class:`~emanet.evaluation.IoUMetric` counts; the images' scores and the
set's confusion matrix come from these, the set's scores from the metric
itself.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence

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


def class_table(per_class: Optional[Mapping[str, list]],
                counts: np.ndarray,
                classes: Sequence[str]) -> Dict[str, list]:
    """The metric's per-class table, plus each class's pixel share.

    The scores are the test metric's own table
    (:attr:`~emanet.evaluation.IoUMetric.per_class`), the one the run's
    record holds, so the page shows what ``tools/test.py`` prints and
    writes; only the pixel shares come from the report's counts.

    Args:
        per_class: the metric's table (``Class`` and one list per score,
            None for NaN), or None when the test has no such metric.
        counts: the set's ``[C, C]`` confusion counts.
        classes: the C class names.

    Returns:
        dict: ``Class`` (names), the metric's lists (``IoU``, ``Acc``,
        ...; none without a metric) and ``Pixels`` (percent of the
        labelled ground-truth pixels).
    """
    table: Dict[str, list] = dict(Class=list(classes))
    table.update({key: list(values) for key, values in (per_class or {})
                  .items() if key != 'Class'})
    gt_pixels = np.asarray(counts, dtype=np.float64).sum(1)  # [C]
    total = gt_pixels.sum()
    table['Pixels'] = [
        round(float(v) / total * 100, 2) if total else None
        for v in gt_pixels
    ]
    return table
