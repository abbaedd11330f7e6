"""The one confusion/IoU core: pixel counts and the scores made of them.

Every count in the toolbox goes through :func:`confusion_counts` (the
metric, the evaluation report, the confusion-matrix tool, quantization's
accuracy check) and every score through :func:`scores_from_confusion`, so
their numbers agree to the last pixel. Counts are ``[C, C]`` int64: rows
ground truth, columns prediction, ignored pixels left out.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


def confusion_counts(pred: ArrayLike, gt: ArrayLike, num_classes: int,
                     ignore_index: int = 255) -> np.ndarray:
    """Pixel counts of one prediction against its ground truth.

    Tensors on an accelerator are counted there (only the ``[C, C]``
    result comes back); CPU tensors and arrays are counted in numpy,
    which on a CPU shared with the model's thread pool is many times
    faster than the same few operations in torch.

    Args:
        pred: ``[H, W]`` predicted class indices.
        gt: ``[H, W]`` ground truth; ``ignore_index`` and values outside
            ``0..num_classes - 1`` are left out.
        num_classes: number of classes C.
        ignore_index: the ignored label value.

    Returns:
        np.ndarray: ``[C, C]`` int64 pixel counts (rows: ground truth).

    Raises:
        ValueError: the shapes differ, or a prediction is outside
            ``0..C - 1``.
    """
    if tuple(pred.shape) != tuple(gt.shape):
        raise ValueError(f'prediction {tuple(pred.shape)} and ground truth '
                         f'{tuple(gt.shape)} differ in size')
    if isinstance(pred, torch.Tensor) and pred.device.type != 'cpu':
        gt = torch.as_tensor(gt).to(pred.device).long()
        keep = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)
        kept = pred[keep].long()  # [N]
        _check_range(kept, num_classes)
        index = gt[keep] * num_classes + kept  # [N]
        counts = torch.bincount(index, minlength=num_classes**2).cpu()
        return counts.numpy().reshape(num_classes, num_classes)
    pred = _numpy(pred).astype(np.int64, copy=False)
    gt = _numpy(gt).astype(np.int64, copy=False)
    keep = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)  # [H, W]
    kept = pred[keep]  # [N]
    _check_range(kept, num_classes)
    counts = np.bincount(gt[keep] * num_classes + kept,
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _check_range(pred: ArrayLike, num_classes: int) -> None:
    if len(pred) and not 0 <= int(pred.min()) <= int(
            pred.max()) < num_classes:
        raise ValueError(f'prediction values outside 0..{num_classes - 1}')


def _numpy(array: ArrayLike) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def scores_from_confusion(counts: np.ndarray,
                          metrics: Sequence[str] = ('mIoU', ),
                          nan_to_num: Optional[float] = None,
                          beta: float = 1
                          ) -> 'OrderedDict[str, np.ndarray]':
    """Per-class scores (fractions) from summed confusion counts.

    A class absent from both prediction and ground truth gets NaN IoU; a
    class absent from the ground truth gets NaN Acc.

    Args:
        counts: ``[C, C]`` confusion counts.
        metrics: any of ``'mIoU'`` (IoU, Acc), ``'mDice'`` (Dice, Acc),
            ``'mFscore'`` (Fscore, Precision, Recall).
        nan_to_num: replace NaN scores by this value.
        beta: weight of recall in the F-score.

    Returns:
        ``aAcc`` (scalar) and per-class ``[C]`` arrays: ``IoU``, ``Acc``,
        ``Dice``, ``Fscore``, ``Precision``, ``Recall`` as asked.
    """
    hist = np.asarray(counts, dtype=np.float64)
    intersect = np.diag(hist)  # [C]
    area_label = hist.sum(1)  # [C]
    area_pred = hist.sum(0)  # [C]
    union = area_label + area_pred - intersect  # [C]
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    with np.errstate(divide='ignore', invalid='ignore'):
        out['aAcc'] = np.asarray(intersect.sum() / hist.sum())
        acc = intersect / area_label
        for metric in metrics:
            if metric == 'mIoU':
                out['IoU'] = intersect / union
                out['Acc'] = acc
            elif metric == 'mDice':
                out['Dice'] = 2 * intersect / (area_pred + area_label)
                out['Acc'] = acc
            elif metric == 'mFscore':
                precision = intersect / area_pred
                recall = acc
                out['Fscore'] = (1 + beta**2) * precision * recall / (
                    beta**2 * precision + recall)
                out['Precision'] = precision
                out['Recall'] = recall
    if nan_to_num is not None:
        out = OrderedDict(
            (k, np.nan_to_num(v, nan=nan_to_num)) for k, v in out.items())
    return out


def class_scores(counts: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class ``Acc`` and ``IoU`` in percent ``[C]`` (NaN as above).

    ``Acc`` is the diagonal of :func:`normalize_rows`, ``IoU`` is
    ``diag / (row + column - diag)``.
    """
    scores = scores_from_confusion(counts, ('mIoU', ))
    return {key: scores[key] * 100 for key in ('Acc', 'IoU')}


def mean_iou(counts: np.ndarray) -> float:
    """mIoU in percent over the classes with pixels (0 when none has)."""
    iou = scores_from_confusion(counts, ('mIoU', ))['IoU']  # [C]
    return float(np.nanmean(iou) * 100) if np.isfinite(iou).any() else 0.0


def normalize_rows(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (fractions); NaN rows without pixels."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)  # [C, 1]
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(totals > 0, counts / totals, np.nan)


def most_confused(counts: np.ndarray, classes: Sequence[str],
                  top: int = 5) -> List[Tuple[str, str, float]]:
    """The largest off-diagonal shares of the row-normalised matrix.

    Returns:
        list: ``(ground truth class, predicted class, percent of the
        ground truth's pixels)``, largest first, shares above zero only.
    """
    shares = np.nan_to_num(normalize_rows(counts)) * 100
    np.fill_diagonal(shares, 0)
    order = np.argsort(shares, axis=None)[::-1][:top]
    found = []
    for flat in order:
        row, col = np.unravel_index(flat, shares.shape)
        if shares[row, col] <= 0:
            break
        found.append((classes[row], classes[col], float(shares[row, col])))
    return found
