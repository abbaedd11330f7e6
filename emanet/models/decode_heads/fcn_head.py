"""FCNHead: a few convs then classification (auxiliary head of EMANet)."""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from emanet.registry import MODELS

from .decode_head import BaseDecodeHead


@MODELS.register_module()
class FCNHead(BaseDecodeHead):
    """`Fully Convolutional Networks <https://arxiv.org/abs/1411.4038>`_ head.

    Args:
        num_convs (int): Conv-BN-ReLU layers before classification; 0 needs
            ``in_channels == channels``. Default: 2.
        kernel_size (int): kernel size of those convs. Default: 3.
        concat_input (bool): concatenate the input with the conv output
            (then ``conv_cat``). Default: True.
        dilation (int): dilation of those convs. Default: 1.
        **kwargs: :class:`BaseDecodeHead` arguments.
    """

    def __init__(self,
                 num_convs: int = 2,
                 kernel_size: int = 3,
                 concat_input: bool = True,
                 dilation: int = 1,
                 **kwargs) -> None:
        if num_convs < 0 or dilation <= 0:
            raise ValueError('FCNHead needs num_convs >= 0 and dilation > 0, '
                             f'got {num_convs} and {dilation}')
        self.num_convs = num_convs
        self.concat_input = concat_input
        self.kernel_size = kernel_size
        super().__init__(**kwargs)
        if num_convs == 0 and self.in_channels != self.channels:
            raise ValueError('FCNHead with num_convs=0 needs in_channels == '
                             'channels')
        padding = (kernel_size // 2) * dilation
        if num_convs == 0:
            self.convs = nn.Identity()
        else:
            self.convs = nn.Sequential(*[
                ConvModule(self.in_channels if i == 0 else self.channels,
                           self.channels, kernel_size, padding=padding,
                           dilation=dilation, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
                for i in range(num_convs)])
        if concat_input:
            self.conv_cat = ConvModule(
                self.in_channels + self.channels, self.channels, kernel_size,
                padding=kernel_size // 2, conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def forward(self, inputs) -> Tensor:
        """Backbone features -> logits ``[B, num_classes, h, w]``."""
        x = self._transform_inputs(inputs)  # [B, Cin, h, w]
        feats = self.convs(x)  # [B, channels, h, w]
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))  # [B,ch,h,w]
        return self.cls_seg(feats)  # [B, num_classes, h, w]
