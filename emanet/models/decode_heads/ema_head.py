"""EMANet head: Expectation-Maximization Attention (Li et al., ICCV 2019).

`EMANet <https://arxiv.org/abs/1907.13426>`_ summarises a feature map with
K bases found by a few EM iterations and reconstructs the feature from them.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from emanet.registry import MODELS

from ..utils import reduce_mean
from .decode_head import BaseDecodeHead


class EMAModule(nn.Module):
    """EM attention: bases ``[1, C, K]`` kept as a moving-average buffer.

    Args:
        channels (int): feature channels C.
        num_bases (int): number of bases K.
        num_stages (int): EM iterations T (>= 1).
        momentum (float): step of the ``bases`` buffer toward the batch's
            final bases in training mode.
    """

    def __init__(self, channels: int, num_bases: int, num_stages: int,
                 momentum: float) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f'num_stages must be >= 1, got {num_stages}')
        self.num_bases = num_bases
        self.num_stages = num_stages
        self.momentum = momentum
        bases = torch.randn(1, channels, num_bases)  # [1, C, K]
        bases = bases * math.sqrt(2.0 / num_bases)  # [1, C, K]
        self.register_buffer('bases', F.normalize(bases, dim=1))  # [1, C, K]

    def forward(self, feats: Tensor) -> Tensor:
        """Reconstruct ``feats`` ``[B, C, H, W]`` from the EM bases.

        The EM iterations run without gradient and in float32 at least
        (float64 for a float64 model; float32 under autocast); the returned
        reconstruction has the input's dtype.
        """
        b, c, h, w = feats.shape
        dtype = torch.promote_types(feats.dtype, torch.float32)
        with torch.no_grad(), torch.autocast(feats.device.type,
                                             enabled=False):
            x = feats.detach().to(dtype).view(b, c, h * w)  # [B, C, N]
            bases = self.bases.to(dtype).expand(b, c, -1)  # [B, C, K]
            for _ in range(self.num_stages):
                # E step: responsibilities of the K bases for each pixel
                attn = torch.einsum('bcn,bck->bnk', x, bases)  # [B, N, K]
                attn = F.softmax(attn, dim=2)  # [B, N, K]
                # M step: bases = responsibility-weighted pixel means
                attn_normed = F.normalize(attn, dim=1, p=1)  # [B, N, K]
                bases = torch.einsum('bcn,bnk->bck', x, attn_normed)  # [B,C,K]
                bases = F.normalize(bases, dim=1, p=2)  # [B, C, K]
            recon = torch.einsum('bck,bnk->bcn', bases, attn)  # [B, C, N]
            if self.training:
                mean = bases.mean(dim=0, keepdim=True)  # [1, C, K]
                mean = F.normalize(reduce_mean(mean), dim=1, p=2)  # [1, C, K]
                new = self.bases * (1 - self.momentum)  # [1, C, K]
                self.bases.copy_(new + mean.to(new) * self.momentum)
        return recon.view(b, c, h, w).to(feats.dtype)  # [B, C, H, W]


@MODELS.register_module()
class EMAHead(BaseDecodeHead):
    """EMANet decode head.

    ``x -> ema_in_conv -> ema_mid_conv -> EM -> ReLU -> ema_out_conv``,
    added to the ``ema_in_conv`` output, ReLU, ``bottleneck``, optional
    ``conv_cat`` with the input, then ``cls_seg``.

    Args:
        ema_channels (int): channels of the EM attention.
        num_bases (int): number of bases K.
        num_stages (int): EM iterations.
        concat_input (bool): concatenate the input before classifying.
            Default: True.
        momentum (float): bases moving-average momentum. Default: 0.1.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ...).
    """

    def __init__(self,
                 ema_channels: int,
                 num_bases: int,
                 num_stages: int,
                 concat_input: bool = True,
                 momentum: float = 0.1,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.ema_channels = ema_channels
        self.num_bases = num_bases
        self.num_stages = num_stages
        self.concat_input = concat_input
        self.momentum = momentum
        self.ema_module = EMAModule(ema_channels, num_bases, num_stages,
                                    momentum)
        conv = dict(conv_cfg=self.conv_cfg)
        self.ema_in_conv = ConvModule(
            self.in_channels, ema_channels, 3, padding=1,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, **conv)
        # maps the ReLU output (0, inf) to (-inf, inf); fixed, not learned
        self.ema_mid_conv = ConvModule(
            ema_channels, ema_channels, 1, norm_cfg=None, act_cfg=None, **conv)
        for param in self.ema_mid_conv.parameters():
            param.requires_grad = False
        self.ema_out_conv = ConvModule(
            ema_channels, ema_channels, 1, norm_cfg=self.norm_cfg,
            act_cfg=None, **conv)
        self.bottleneck = ConvModule(
            ema_channels, self.channels, 3, padding=1,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, **conv)
        if concat_input:
            self.conv_cat = ConvModule(
                self.in_channels + self.channels, self.channels, 3,
                padding=1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                **conv)

    def forward(self, inputs) -> Tensor:
        """Backbone features -> logits ``[B, num_classes, h, w]``."""
        x = self._transform_inputs(inputs)  # [B, Cin, h, w]
        feats = self.ema_in_conv(x)  # [B, E, h, w]
        identity = feats  # [B, E, h, w]
        feats = self.ema_mid_conv(feats)  # [B, E, h, w]
        recon = self.ema_module(feats)  # [B, E, h, w], no gradient
        # in-place ReLUs, as mmsegmentation: ``recon`` holds no gradient
        # and the sum is a new tensor
        recon = F.relu(recon, inplace=True)  # [B, E, h, w]
        recon = self.ema_out_conv(recon)  # [B, E, h, w]
        out = F.relu(identity + recon, inplace=True)  # [B, E, h, w]
        out = self.bottleneck(out)  # [B, channels, h, w]
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))  # [B, ch, h, w]
        return self.cls_seg(out)  # [B, num_classes, h, w]
