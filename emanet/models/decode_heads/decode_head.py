"""Lean base class of the decode heads (EMAHead, FCNHead)."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from emanet.registry import MODELS
from emanet.structures import SegDataSample
from emanet.utils.errors import ConfigError, ConfigTypeError

from ..losses import accuracy
from ..utils import resize


class BaseDecodeHead(BaseModule):
    """Pick one backbone feature, run ``forward``, classify and score.

    Subclasses implement ``forward(inputs) -> logits [B, num_classes, h, w]``
    and call :meth:`cls_seg` last.

    Args:
        in_channels (int): channels of the selected input feature.
        channels (int): channels before ``conv_seg``.
        num_classes (int): number of classes.
        out_channels (int, optional): must equal ``num_classes`` if given.
        dropout_ratio (float): Dropout2d before ``conv_seg``. Default: 0.1.
        conv_cfg, norm_cfg (dict, optional): layer configs.
        act_cfg (dict, optional): activation config. Default: ReLU.
        in_index (int): which backbone output to use. Default: -1.
        loss_decode (dict | list[dict]): loss config(s); losses with the
            same ``loss_name`` are summed. Default: CrossEntropyLoss.
        ignore_index (int): label without loss. Default: 255.
        align_corners (bool): of the bilinear resizes. Default: False.
        init_cfg: mmengine init config (``conv_seg`` ~ N(0, 0.01)).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 *,
                 num_classes: int,
                 out_channels: Optional[int] = None,
                 dropout_ratio: float = 0.1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 in_index: int = -1,
                 loss_decode: Optional[Union[dict, Sequence[dict]]] = None,
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg or dict(
            type='Normal', std=0.01, override=dict(name='conv_seg')))
        act_cfg = dict(type='ReLU') if act_cfg is None else act_cfg
        if loss_decode is None:
            loss_decode = dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
        if not isinstance(in_channels, int) or not isinstance(in_index, int):
            raise TypeError('in_channels and in_index must be ints (one '
                            'input feature), got '
                            f'{in_channels!r} and {in_index!r}')
        if out_channels is not None and out_channels != num_classes:
            raise ValueError(f'out_channels ({out_channels}) must equal '
                             f'num_classes ({num_classes})')
        self.in_channels = in_channels
        self.channels = channels
        self.num_classes = num_classes
        self.out_channels = num_classes
        self.dropout_ratio = dropout_ratio
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.in_index = in_index
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        if isinstance(loss_decode, dict):
            self.loss_decode = MODELS.build(loss_decode)
        elif isinstance(loss_decode, (list, tuple)) and loss_decode and all(
                isinstance(cfg, dict) for cfg in loss_decode):
            self.loss_decode = nn.ModuleList(
                MODELS.build(cfg) for cfg in loss_decode)
        else:
            raise ConfigTypeError(
                f'{type(self).__name__}: loss_decode={loss_decode!r} '
                f'({type(loss_decode).__name__}); expected a loss config '
                "dict (e.g. dict(type='CrossEntropyLoss')), a non-empty "
                'list of them, or None for the default cross-entropy')
        self._check_class_weights()
        self.conv_seg = nn.Conv2d(channels, self.out_channels, kernel_size=1)
        self.dropout = (nn.Dropout2d(dropout_ratio)
                        if dropout_ratio > 0 else None)

    def _check_class_weights(self) -> None:
        """One class weight per class in every loss that has them."""
        losses = (self.loss_decode
                  if isinstance(self.loss_decode, nn.ModuleList)
                  else [self.loss_decode])
        for loss in losses:
            weight = getattr(loss, 'class_weight', None)
            if weight is not None and len(weight) != self.num_classes:
                raise ConfigError(
                    f'{type(self).__name__}: loss_decode {loss.loss_name} '
                    f'has {len(weight)} class_weight entries but '
                    f'num_classes={self.num_classes}; give one weight per '
                    'class (or class_weight=None)')

    def extra_repr(self) -> str:
        return (f'in_index={self.in_index}, ignore_index={self.ignore_index},'
                f' align_corners={self.align_corners}')

    def _transform_inputs(self, inputs: Sequence[Tensor]) -> Tensor:
        """Select the feature this head reads: ``[B, in_channels, h, w]``."""
        return inputs[self.in_index]

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        raise NotImplementedError

    def cls_seg(self, feat: Tensor) -> Tensor:
        """``[B, channels, h, w] -> [B, num_classes, h, w]``."""
        if self.dropout is not None:
            feat = self.dropout(feat)  # [B, channels, h, w]
        return self.conv_seg(feat)  # [B, num_classes, h, w]

    def loss(self, inputs: Sequence[Tensor],
             batch_data_samples: List[SegDataSample],
             train_cfg: Optional[dict] = None) -> dict:
        """Forward and compute the loss dict (``loss_ce``, ``acc_seg``)."""
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)

    def predict(self, inputs: Sequence[Tensor], batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Forward and resize logits to the network input size."""
        return self.predict_by_feat(self.forward(inputs), batch_img_metas)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: List[SegDataSample]) -> dict:
        """Loss of logits ``[B, K, h, w]`` upsampled to the label size.

        Returns:
            dict: one entry per ``loss_name`` plus ``acc_seg`` (percent).
        """
        seg_label = torch.stack([
            sample.gt_sem_seg.data for sample in batch_data_samples
        ])  # [B, 1, H, W]
        seg_logits = resize(seg_logits, size=seg_label.shape[2:],
                            mode='bilinear',
                            align_corners=self.align_corners)  # [B, K, H, W]
        seg_label = seg_label.squeeze(1)  # [B, H, W]
        loss_modules = (self.loss_decode
                        if isinstance(self.loss_decode, nn.ModuleList)
                        else [self.loss_decode])
        losses = {}
        for loss_module in loss_modules:
            value = loss_module(seg_logits, seg_label,
                                ignore_index=self.ignore_index)
            name = loss_module.loss_name
            losses[name] = losses[name] + value if name in losses else value
        losses['acc_seg'] = accuracy(seg_logits, seg_label,
                                     ignore_index=self.ignore_index)
        return losses

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Resize logits ``[B, K, h, w]`` to the padded input size
        (``pad_shape``, else ``img_shape``) -> ``[B, K, H, W]``."""
        meta = batch_img_metas[0]
        size = meta.get('pad_shape', meta['img_shape'])[:2]
        return resize(seg_logits, size=size, mode='bilinear',
                      align_corners=self.align_corners)
