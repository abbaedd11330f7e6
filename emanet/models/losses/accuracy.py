"""Pixel accuracy as reported in the loss dict (``acc_seg``)."""
import torch
from torch import Tensor


def accuracy(pred: Tensor, target: Tensor, ignore_index: int = 255) -> Tensor:
    """Top-1 pixel accuracy in percent, ignoring ``ignore_index`` pixels.

    Same definition as mmsegmentation's ``accuracy`` (an epsilon in the
    numerator and denominator, so a fully ignored batch gives 100).

    Args:
        pred (Tensor): logits ``[B, C, H, W]``.
        target (Tensor): labels ``[B, H, W]``.
        ignore_index (int): label excluded from the count.

    Returns:
        Tensor: ``[1]``, in ``[0, 100]``.
    """
    valid = target != ignore_index  # [B, H, W]
    correct = (pred.argmax(dim=1) == target) & valid  # [B, H, W]
    eps = torch.finfo(torch.float32).eps
    num_correct = correct.sum().float().reshape(1) + eps  # [1]
    return num_correct * (100.0 / (valid.sum().float() + eps))  # [1]
