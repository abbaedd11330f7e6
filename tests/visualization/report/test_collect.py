"""The report's numbers: each image's summary, the order of the gallery,
the per-class table (the metric's scores, the report's pixel shares)."""
import numpy as np
import pytest
import torch

from emanet.evaluation import IoUMetric
from emanet.evaluation.iou import confusion_counts
from emanet.visualization.report.collect import (
    class_table,
    summarize_image,
    worst_first,
)

CLASSES = ['road', 'car', 'rider']


def test_image_summary_names_worst_classes():
    gt = torch.tensor([[0, 0, 0, 0],
                       [1, 1, 255, 255]])
    pred = torch.tensor([[0, 0, 1, 1],
                         [1, 0, 2, 2]])
    counts = confusion_counts(pred, gt, 3, 255)
    # rows ground truth, columns prediction; the 255 pixels are left out
    np.testing.assert_array_equal(counts, [[2, 2, 0], [1, 1, 0], [0, 0, 0]])
    stats = summarize_image(counts, CLASSES)
    # road: 2 / (4 + 3 - 2), car: 1 / (2 + 3 - 1); rider in neither
    assert stats['iou'] == {0: 40.0, 1: 25.0}
    assert stats['mIoU'] == 32.5
    assert stats['labelled'] == 6 and stats['wrong'] == 3
    # lowest IoU first; road: 2 missed + 1 extra, car: 1 missed + 2 extra
    assert stats['worst'] == [{'class': 'car', 'iou': 25.0, 'wrong': 3},
                              {'class': 'road', 'iou': 40.0, 'wrong': 3}]
    # equal IoUs: more wrong pixels first
    tie = summarize_image(np.array([[1, 1, 0], [0, 2, 0], [0, 1, 0]]),
                          CLASSES)
    assert tie['iou'][0] == tie['iou'][1] == 50.0
    assert [w['class'] for w in tie['worst']] == ['rider', 'car', 'road']


def test_image_without_labelled_pixels_has_no_miou_and_goes_last():
    empty = summarize_image(np.zeros((3, 3), dtype=np.int64), CLASSES)
    assert empty['mIoU'] is None and empty['iou'] == {}
    perfect = summarize_image(np.diag([5, 0, 1]), CLASSES)
    assert perfect['mIoU'] == 100.0 and perfect['worst'] == []
    images = [dict(name='a', **perfect), dict(name='b', **empty),
              dict(name='c', mIoU=12.5), dict(name='d', mIoU=100.0)]
    assert [im['name'] for im in worst_first(images)] == ['c', 'a', 'd', 'b']


def test_class_table_is_the_metric_table_with_pixel_shares():
    rng = np.random.default_rng(0)
    hist = rng.integers(0, 1000, (3, 3))
    hist[2] = 0  # a class without ground truth: Acc NaN
    hist[:, 2] = 0  # ... nor predictions: IoU NaN too
    metric = IoUMetric(iou_metrics=['mIoU', 'mDice'])
    metric.dataset_meta = dict(classes=CLASSES)
    metric.summarize(hist)
    table = class_table(metric.per_class, hist, CLASSES)
    pixels = table.pop('Pixels')
    assert table == metric.per_class  # the scores are the metric's own
    assert list(table) == ['Class', 'IoU', 'Acc', 'Dice']
    assert table['IoU'][2] is None
    assert pixels[2] == 0.0 and sum(pixels) == pytest.approx(100, abs=0.02)
    assert pixels[0] == round(hist[0].sum() / hist.sum() * 100, 2)
    # Without a metric's table: the classes and their pixel shares only.
    assert list(class_table(None, hist, CLASSES)) == ['Class', 'Pixels']
    assert class_table(None, np.zeros((3, 3)), CLASSES)['Pixels'] == \
        [None] * 3
