"""accuracy: top-1 pixel accuracy in percent, as reported in ``acc_seg``."""
import pytest
import torch

from emanet.models.losses import accuracy

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

EPS = torch.finfo(torch.float32).eps


def one_hot_logits(pred_classes: torch.Tensor, num_classes: int):
    """Logits ``[B, K, H, W]`` whose argmax is ``pred_classes`` [B, H, W]."""
    return torch.nn.functional.one_hot(pred_classes, num_classes).permute(
        0, 3, 1, 2).float()


def test_accuracy_ignores_255():
    pred = torch.zeros(1, 3, 2, 2)
    pred[0, 1] = 1  # predicts class 1 everywhere
    label = torch.tensor([[[1, 1], [0, 255]]])
    acc = accuracy(pred, label, ignore_index=255)
    assert acc.shape == (1,)
    torch.testing.assert_close(acc, torch.tensor([200 / 3]))
    all_ignored = torch.full((1, 2, 2), 255)
    torch.testing.assert_close(accuracy(pred, all_ignored),
                               torch.tensor([100.0]))



def test_counts_pixels_over_the_whole_batch():
    # image 0: 1 of 1 valid pixel right; image 1: 0 of 3 right. The batch
    # counts pixels (1 of 4 = 25%), not the mean of per-image scores (50%).
    label = torch.tensor([[[2, 255], [255, 255]], [[0, 1], [2, 255]]])
    pred = torch.tensor([[[2, 0], [1, 1]], [[1, 2], [0, 2]]])
    acc = accuracy(one_hot_logits(pred, 3), label)
    assert acc.dtype == torch.float32
    torch.testing.assert_close(acc, torch.tensor([25.0]))


def test_all_right_and_all_wrong():
    label = torch.tensor([[[0, 1, 2], [2, 1, 0]]])  # [1, 2, 3]
    right = accuracy(one_hot_logits(label, 3), label)
    torch.testing.assert_close(right, torch.tensor([100.0]))
    wrong = accuracy(one_hot_logits((label + 1) % 3, 3), label)
    # only the epsilon of the numerator is left: eps * 100 / (6 + eps)
    torch.testing.assert_close(wrong, torch.tensor([EPS * 100 / 6]))
    assert 0 < wrong.item() < 1e-4


def test_other_ignore_index_and_255_counted_when_not_ignored():
    label = torch.tensor([[[0, 1], [1, 1]]])
    pred = torch.tensor([[[1, 1], [0, 1]]])  # wrong at two pixels
    logits = one_hot_logits(pred, 2)
    # class 0 ignored: 2 of the 3 class-1 pixels are right
    torch.testing.assert_close(accuracy(logits, label, ignore_index=0),
                               torch.tensor([200 / 3]))
    torch.testing.assert_close(accuracy(logits, label),
                               torch.tensor([50.0]))
    # with another ignore index, a 255 label is a pixel no logit can match
    label[0, 0, 0] = 255
    torch.testing.assert_close(accuracy(logits, label, ignore_index=-1),
                               torch.tensor([50.0]))
