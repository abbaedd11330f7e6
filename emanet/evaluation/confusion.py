"""Confusion matrices of a data set: from prediction PNGs or a model.

:func:`confusion_from_model` is the one "run a model over a split and
count" of the toolbox: the confusion-matrix tool and quantization's
accuracy check (:func:`emanet.deploy.runtime.quantize.evaluate`) use it.

The counts are the ones :class:`~emanet.evaluation.IoUMetric` sums (rows:
ground truth, columns: prediction, ignored pixels left out), so the
row-normalised diagonal is its per-class ``Acc`` and
``diag / (row + column - diag)`` its ``IoU``. The prediction PNGs are
those ``tools/test.py --out DIR`` writes: ``<image name>.png`` holding
class indices (plus one with ``reduce_zero_label``).
"""
import csv
import io
import json
import os.path as osp
import time
from typing import (
    Any,
    Callable,
    Iterable,
    NamedTuple,
    Optional,
    Sequence,
)

import cv2
import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from emanet.utils.atomic_io import atomic_write_text
from emanet.utils.errors import BadDataError, MissingDataError
from emanet.utils.image_io import write_png

from .iou import class_scores, confusion_counts, normalize_rows


def prediction_file(pred_dir: str, img_path: str) -> str:
    """The prediction PNG of an image, as ``tools/test.py --out`` names it.

    Args:
        pred_dir: the ``--out`` folder.
        img_path: the image's path in the data set.

    Returns:
        str: ``<pred_dir>/<image name without extension>.png``.
    """
    name = osp.splitext(osp.basename(img_path))[0]
    return osp.join(pred_dir, f'{name}.png')


def read_prediction(path: str, num_classes: int,
                    reduce_zero_label: bool = False) -> np.ndarray:
    """Read one prediction PNG as class indices ``[H, W]``.

    Args:
        path: the PNG file.
        num_classes: the data set's number of classes.
        reduce_zero_label: the data set shifts labels down by one; the
            PNGs hold the shifted-back values, as the metric writes them.

    Raises:
        MissingDataError: the file does not exist.
        BadDataError: the file is not a one-channel PNG of class indices
            (a colour overlay, Cityscapes labelIds of ``--format-only``).
    """
    if not osp.isfile(path):
        raise MissingDataError(
            f'prediction {path} does not exist; write the predictions with '
            '`python tools/test.py CONFIG CHECKPOINT --out DIR` (without '
            '--format-only) or pass --checkpoint')
    pred = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if pred is None:
        raise BadDataError(f'cannot decode prediction {path}: not an image')
    if pred.ndim != 2:
        raise BadDataError(
            f'prediction {path} has shape {pred.shape}; expected one '
            'channel of class indices as tools/test.py --out writes them '
            '(not a --show-dir colour overlay)')
    pred = pred.astype(np.int64)
    if reduce_zero_label:
        pred = pred - 1
    if pred.size and not 0 <= pred.min() <= pred.max() < num_classes:
        hint = (' (Cityscapes labelIds, as --format-only writes them?)'
                if pred.max() < 34 else '')
        raise BadDataError(
            f'prediction {path} holds values {int(pred.min())}..'
            f'{int(pred.max())}, outside the {num_classes} classes 0..'
            f'{num_classes - 1}{hint}; use the train-id PNGs of '
            'tools/test.py --out')
    return pred


def write_prediction(pred_dir: str, img_path: str, pred: np.ndarray,
                     reduce_zero_label: bool = False) -> str:
    """Write a prediction PNG as ``tools/test.py --out`` does (atomically).

    Returns:
        str: the file written.
    """
    path = prediction_file(pred_dir, img_path)
    if reduce_zero_label:
        pred = pred + 1
    write_png(path, pred.astype(np.uint8))
    return path


def _ground_truth(sample: Any) -> np.ndarray:
    """``gt_sem_seg`` of a packed sample as ``[H, W]`` int64."""
    gt = sample.gt_sem_seg.data  # [1, H, W]
    return gt[0].cpu().numpy().astype(np.int64)


def confusion_from_prediction_dir(
        dataset: Any,
        pred_dir: str,
        ignore_index: int = 255,
        progress: Optional[Callable[[Iterable], Iterable]] = None
) -> np.ndarray:
    """Counts ``[C, C]`` of the prediction PNGs in ``pred_dir``.

    Each sample of ``dataset`` runs through its own pipeline, so the
    ground truth is exactly what the test metric compares with.

    Args:
        dataset: a built data set (``metainfo['classes']``, samples packed
            by ``PackSegInputs`` with ``gt_sem_seg``).
        pred_dir: folder of ``tools/test.py --out``.
        ignore_index: label value left out.
        progress: wraps the sample indices (e.g. a tqdm bar).

    Raises:
        MissingDataError, BadDataError: a prediction is missing, not a
            label map, or of another size than its ground truth.
    """
    num_classes = len(dataset.metainfo['classes'])
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    indices = range(len(dataset))
    for idx in (progress(indices) if progress else indices):
        sample = dataset[idx]['data_samples']
        gt = _ground_truth(sample)
        path = prediction_file(pred_dir, sample.img_path)
        pred = read_prediction(path, num_classes,
                               sample.get('reduce_zero_label', False))
        if pred.shape != gt.shape:
            raise BadDataError(
                f'prediction {path} is {pred.shape[1]}x{pred.shape[0]} '
                f'(WxH) but the label map {sample.get("seg_map_path")} is '
                f'{gt.shape[1]}x{gt.shape[0]}; the predictions must be of '
                'this config\'s test set')
        counts += confusion_counts(pred, gt, num_classes, ignore_index)
    return counts


class ModelCounts(NamedTuple):
    """What :func:`confusion_from_model` counted."""

    counts: np.ndarray  # [C, C] int64, rows ground truth
    seconds: float  # in test_step: preprocessing, network, resize, argmax
    num_images: int


def confusion_from_model(
        model: torch.nn.Module,
        dataset: Any,
        ignore_index: int = 255,
        out_dir: Optional[str] = None,
        progress: Optional[Callable[[Iterable], Iterable]] = None,
        indices: Optional[Sequence[int]] = None) -> ModelCounts:
    """Run ``model`` over ``dataset`` and count: the one loop doing it.

    Each image is a one-image batch of its own pipeline, as the test data
    loader gives it; only ``test_step`` is timed (loading the image and
    counting are not).

    Args:
        model: a segmentor in eval mode (``init_model``; exported models
            too), whose ``test_step`` gives ``pred_sem_seg``.
        dataset: the data set, as in :func:`confusion_from_prediction_dir`.
        ignore_index: label value left out.
        out_dir: if set, also write each prediction PNG there, as
            ``tools/test.py --out`` does.
        progress: wraps the sample indices (e.g. a tqdm bar).
        indices: the images to run (all by default).

    Returns:
        ModelCounts: counts ``[C, C]``, seconds in ``test_step`` and the
        number of images.
    """
    num_classes = len(dataset.metainfo['classes'])
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    indices = range(len(dataset)) if indices is None else list(indices)
    seconds = 0.0
    for idx in (progress(indices) if progress else indices):
        batch = pseudo_collate([dataset[idx]])
        start = time.perf_counter()
        with torch.no_grad():
            result = model.test_step(batch)[0]
        seconds += time.perf_counter() - start
        pred = result.pred_sem_seg.data[0].cpu().numpy()  # [H, W]
        gt = _ground_truth(result)
        counts += confusion_counts(pred, gt, num_classes, ignore_index)
        if out_dir is not None:
            write_prediction(out_dir, result.img_path, pred,
                             result.get('reduce_zero_label', False))
    return ModelCounts(counts, seconds, len(indices))


def counts_csv(counts: np.ndarray, classes: Sequence[str]) -> str:
    """The counts as CSV: a header of predicted classes, one row per
    ground-truth class (its name first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['ground truth \\ prediction', *classes])
    for name, row in zip(classes, np.asarray(counts)):
        writer.writerow([name, *(int(v) for v in row)])
    return buf.getvalue()


def write_confusion_files(counts: np.ndarray, classes: Sequence[str],
                          csv_file: str, json_file: str,
                          **extra: Any) -> None:
    """Write the counts as CSV and JSON (atomically).

    The JSON holds ``classes``, ``counts`` (rows: ground truth), the
    row-normalised ``normalized`` matrix (percent; ``null`` for a class
    without ground-truth pixels), per-class ``Acc`` and ``IoU`` (percent)
    and the ``extra`` items.
    """

    def plain(values: np.ndarray) -> list:
        return [None if np.isnan(v) else round(float(v), 4)
                for v in np.ravel(values)]

    num = len(classes)
    normalized = normalize_rows(counts) * 100
    scores = class_scores(counts)
    record = dict(
        classes=list(classes),
        rows='ground truth',
        columns='prediction',
        counts=np.asarray(counts).astype(int).tolist(),
        normalized=[plain(normalized[i]) for i in range(num)],
        Acc=plain(scores['Acc']),
        IoU=plain(scores['IoU']),
        **extra)
    atomic_write_text(csv_file, counts_csv(counts, classes))
    atomic_write_text(json_file, json.dumps(record, indent=2))
