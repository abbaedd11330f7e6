"""The confusion/IoU core against hand-computed counts and scores."""
import numpy as np
import pytest
import torch

from emanet.evaluation.iou import (
    class_scores,
    confusion_counts,
    mean_iou,
    most_confused,
    normalize_rows,
    scores_from_confusion,
)

CLASSES = ['road', 'person', 'rider']
# rows: ground truth, columns: prediction
COUNTS = np.array([[90, 4, 6],
                   [0, 30, 10],
                   [0, 0, 0]])


def test_counts_leave_out_ignored_and_unknown_labels():
    gt = torch.tensor([[0, 0, 0, 0],
                       [1, 1, 255, 7]])
    pred = torch.tensor([[0, 0, 1, 1],
                         [1, 0, 2, 2]])
    counts = confusion_counts(pred, gt, 3, 255)
    # rows ground truth, columns prediction; 255 and 7 are left out
    np.testing.assert_array_equal(counts, [[2, 2, 0], [1, 1, 0], [0, 0, 0]])
    assert counts.dtype == np.int64


def test_tensors_and_arrays_count_alike():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 21, (37, 53))  # 19, 20: not classes
    gt[:5] = 255
    pred = rng.integers(0, 19, (37, 53))
    expected = np.zeros((19, 19), dtype=np.int64)
    for g, p in zip(gt.ravel(), pred.ravel()):
        if g < 19:
            expected[g, p] += 1
    np.testing.assert_array_equal(confusion_counts(pred, gt, 19), expected)
    np.testing.assert_array_equal(
        confusion_counts(torch.from_numpy(pred), torch.from_numpy(gt), 19),
        expected)


def test_shape_and_range_are_checked():
    pred = torch.zeros(4, 5, dtype=torch.long)
    with pytest.raises(ValueError, match='differ in size'):
        confusion_counts(pred[1:], pred, 3)
    with pytest.raises(ValueError, match=r'outside 0\.\.2'):
        confusion_counts(pred + 3, pred, 3)
    # a wrong prediction on an ignored pixel is not counted, nor refused
    gt = torch.full((4, 5), 255)
    assert confusion_counts(pred + 3, gt, 3).sum() == 0


def test_scores_from_hand_counts():
    hand = np.array([[2, 1, 0, 0], [0, 3, 1, 0], [1, 0, 2, 0], [0] * 4])
    scores = scores_from_confusion(hand, ('mIoU', 'mDice', 'mFscore'))
    np.testing.assert_allclose(scores['IoU'][:3], [2 / 4, 3 / 5, 2 / 4])
    np.testing.assert_allclose(scores['Acc'][:3], [2 / 3, 3 / 4, 2 / 3])
    np.testing.assert_allclose(scores['Dice'][:3], [4 / 6, 6 / 8, 4 / 6])
    np.testing.assert_allclose(scores['Fscore'][:3], scores['Dice'][:3])
    assert np.isnan(scores['IoU'][3]) and float(scores['aAcc']) == 0.7
    zeros = scores_from_confusion(hand, nan_to_num=0)
    assert zeros['IoU'][3] == 0
    assert mean_iou(hand) == pytest.approx((0.5 + 0.6 + 0.5) / 3 * 100)
    assert mean_iou(np.zeros((3, 3))) == 0.0


def test_rows_normalised_and_empty_rows_nan():
    norm = normalize_rows(COUNTS)
    np.testing.assert_allclose(norm[0], [0.9, 0.04, 0.06])
    assert norm[1].tolist() == [0, 0.75, 0.25]
    assert np.isnan(norm[2]).all()


def test_diagonal_and_iou_are_the_metric_scores():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 1000, size=(19, 19))
    counts[4] = 0  # a class without ground truth
    scores = class_scores(counts)
    metric = scores_from_confusion(counts)
    np.testing.assert_allclose(scores['Acc'], metric['Acc'] * 100)
    np.testing.assert_allclose(scores['IoU'], metric['IoU'] * 100)
    diag = np.diag(normalize_rows(counts)) * 100
    np.testing.assert_allclose(diag, scores['Acc'])  # NaN at row 4 too
    assert np.isnan(scores['Acc'][4])
    # IoU of class 4: no ground truth but predicted -> 0, not NaN
    assert scores['IoU'][4] == 0


def test_most_confused_lists_largest_off_diagonal_shares():
    pairs = most_confused(COUNTS, CLASSES, top=2)
    assert pairs == [('person', 'rider', 25.0),
                     ('road', 'rider', pytest.approx(6.0))]
    assert most_confused(np.eye(3, dtype=int), CLASSES) == []
