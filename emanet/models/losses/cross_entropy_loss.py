"""Softmax cross-entropy with mmsegmentation's averaging rules."""
import warnings
from typing import List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from emanet.registry import MODELS
from emanet.utils.errors import ConfigError, ConfigTypeError


def _load_class_weight(class_weight: Optional[Union[List[float], str]]
                       ) -> Optional[List[float]]:
    """Class weights from a list or a ``.npy`` / pickle file path.

    Raises:
        ConfigTypeError: the weights are not a list of numbers.
    """
    source = class_weight
    if isinstance(class_weight, str):
        if class_weight.endswith('.npy'):
            class_weight = np.load(class_weight).tolist()
        else:
            from mmengine.fileio import load
            class_weight = list(load(class_weight))
    if class_weight is None:
        return None
    if not isinstance(class_weight, (list, tuple)) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool)
            for w in class_weight):
        raise ConfigTypeError(
            f'CrossEntropyLoss: class_weight={source!r}; expected a list '
            'of numbers (one per class) or a .npy / pickle file of them')
    return [float(w) for w in class_weight]


def cross_entropy(pred: Tensor,
                  label: Tensor,
                  weight: Optional[Tensor] = None,
                  class_weight: Optional[Tensor] = None,
                  reduction: str = 'mean',
                  avg_factor: Optional[float] = None,
                  ignore_index: int = -100,
                  avg_non_ignore: bool = False) -> Tensor:
    """Pixel-wise cross-entropy.

    With ``reduction='mean'`` and no ``avg_factor``, the summed loss is
    divided by the number of ALL pixels (ignored ones included) unless
    ``avg_non_ignore``, as mmsegmentation does. With ``class_weight``, it is
    divided by the summed class weights of the non-ignored pixels (ignored
    pixels have no class weight).

    Args:
        pred (Tensor): logits ``[B, C, H, W]``.
        label (Tensor): labels ``[B, H, W]``.
        weight (Tensor, optional): per-pixel weights ``[B, H, W]``.
        class_weight (Tensor, optional): ``[C]``.
        reduction (str): 'none', 'mean' or 'sum'.
        avg_factor (float, optional): divisor for the mean.
        ignore_index (int): label without loss.
        avg_non_ignore (bool): average over non-ignored pixels only.

    Returns:
        Tensor: scalar, or ``[B, H, W]`` with reduction 'none'.
    """
    loss = F.cross_entropy(pred, label, weight=class_weight,
                           reduction='none',
                           ignore_index=ignore_index)  # [B, H, W]
    if weight is not None:
        loss = loss * weight.float()  # [B, H, W]
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        if avg_factor is not None:
            raise ValueError('avg_factor can not be used with reduction="sum"')
        return loss.sum()
    if avg_factor is None:
        valid = label != ignore_index  # [B, H, W]
        if class_weight is not None:
            safe = torch.where(valid, label, torch.zeros_like(label))
            avg_factor = (class_weight[safe] * valid).sum()  # []
        elif avg_non_ignore:
            avg_factor = valid.sum()  # tensor: no host sync
        else:
            avg_factor = label.numel()
    # eps: a batch whose pixels are all ignored gives 0, not NaN
    return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss for semantic segmentation.

    Args:
        use_sigmoid (bool): only ``False`` (softmax) is supported.
        use_mask (bool): only ``False`` is supported.
        reduction (str): 'none', 'mean' or 'sum'. Default: 'mean'.
        class_weight (list[float] | str, optional): weight of each class or
            a file holding them.
        loss_weight (float): factor applied to the loss. Default: 1.0.
        loss_name (str): key in the loss dict; must start with ``loss_`` to
            be optimised. Default: 'loss_ce'.
        avg_non_ignore (bool): average over non-ignored pixels only.
            Default: False (mmsegmentation's default).
    """

    def __init__(self,
                 use_sigmoid: bool = False,
                 use_mask: bool = False,
                 reduction: str = 'mean',
                 class_weight: Optional[Union[List[float], str]] = None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce',
                 avg_non_ignore: bool = False) -> None:
        super().__init__()
        if use_sigmoid or use_mask:
            raise NotImplementedError(
                'CrossEntropyLoss: only use_sigmoid=False and use_mask=False '
                'are supported')
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'unknown reduction {reduction!r}')
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = _load_class_weight(class_weight)
        self.avg_non_ignore = avg_non_ignore
        self._loss_name = loss_name
        # With class weights the mean is over the weights of non-ignored
        # pixels, so avg_non_ignore changes nothing and needs no warning.
        if (not avg_non_ignore and reduction == 'mean'
                and self.class_weight is None):
            warnings.warn(
                'CrossEntropyLoss averages over all pixels, ignored ones '
                'included (avg_non_ignore=False); set avg_non_ignore=True to '
                'average over non-ignored pixels only.', stacklevel=2)

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict."""
        return self._loss_name

    def extra_repr(self) -> str:
        return f'avg_non_ignore={self.avg_non_ignore}'

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: int = -100,
                **kwargs) -> Tensor:
        """Loss of logits ``[B, C, H, W]`` against labels ``[B, H, W]``."""
        reduction = reduction_override or self.reduction
        class_weight = None
        if self.class_weight is not None:
            if len(self.class_weight) != cls_score.shape[1]:
                raise ConfigError(
                    f'CrossEntropyLoss: {len(self.class_weight)} '
                    f'class_weight entries for {cls_score.shape[1]} '
                    'classes; give one weight per class')
            class_weight = cls_score.new_tensor(self.class_weight)  # [C]
        return self.loss_weight * cross_entropy(
            cls_score, label, weight, class_weight=class_weight,
            reduction=reduction, avg_factor=avg_factor,
            ignore_index=ignore_index, avg_non_ignore=self.avg_non_ignore)
