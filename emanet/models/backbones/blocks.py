"""ResNet blocks and stages with mmsegmentation's module names.

State-dict keys match mmsegmentation 1.x (``layer1.0.conv1.weight``,
``layer1.0.bn1.running_mean``, ``layer1.0.downsample.1.weight`` ...), so its
checkpoints load unchanged.
"""
from typing import List, Optional, Sequence, Type, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, Sequential
from torch import Tensor

CfgType = Optional[Union[dict, List[dict]]]


class BasicBlock(BaseModule):
    """Two 3x3 convs with a residual connection (ResNet-18/34).

    Only ``conv1`` is dilated, as in mmsegmentation.
    """

    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg)
        norm_cfg = norm_cfg or dict(type='BN')
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
            dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, Cin, H, W] -> [B, planes, H/s, W/s]``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(self.conv1(x)))  # [B, P, H/s, W/s]
        out = self.norm2(self.conv2(out))  # [B, P, H/s, W/s]
        # In place, as mmsegmentation: no third activation-sized tensor.
        # Safe for autograd: neither the norm's nor the conv's backward
        # reads its output, and ``identity`` is only read.
        out += identity  # [B, P, H/s, W/s]
        return self.relu(out)  # [B, P, H/s, W/s] (in place)


class Bottleneck(BaseModule):
    """1x1 -> 3x3 -> 1x1 convs with a residual connection (ResNet-50+).

    ``style='pytorch'`` puts the stride on the 3x3 conv, ``'caffe'`` on the
    first 1x1 conv.
    """

    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg)
        norm_cfg = norm_cfg or dict(type='BN')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(
                f"style must be 'pytorch' or 'caffe', got {style!r}")
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.dilation = dilation
        self.style = style
        conv1_stride, conv2_stride = (
            (1, stride) if style == 'pytorch' else (stride, 1))
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(
            norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(
            conv_cfg, inplanes, planes, 1, stride=conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(
            conv_cfg, planes, planes, 3, stride=conv2_stride,
            padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(
            conv_cfg, planes, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, Cin, H, W] -> [B, 4 * planes, H/s, W/s]``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(self.conv1(x)))  # [B, P, H, W]
        out = self.relu(self.norm2(self.conv2(out)))  # [B, P, H/s, W/s]
        out = self.norm3(self.conv3(out))  # [B, 4P, H/s, W/s]
        out += identity  # [B, 4P, H/s, W/s] (in place, see BasicBlock)
        return self.relu(out)  # [B, 4P, H/s, W/s] (in place)


class ResLayer(Sequential):
    """One ResNet stage: ``num_blocks`` blocks, the first one strided.

    An mmengine ``Sequential`` so that ``init_weights`` reaches the blocks.

    Args:
        block: BasicBlock or Bottleneck.
        inplanes (int): input channels.
        planes (int): block width; the output has
            ``planes * block.expansion`` channels.
        num_blocks (int): number of blocks.
        stride (int): stride of the first block.
        dilation (int): dilation of the blocks.
        avg_down (bool): downsample the shortcut with an average pool
            before a stride-1 1x1 conv (ResNetV1d) instead of a strided
            1x1 conv, which drops three quarters of the pixels.
        contract_dilation (bool): halve the first block's dilation when
            ``dilation > 1`` (mmsegmentation's D8 backbones).
        multi_grid (Sequence[int], optional): per-block dilations.
        conv_cfg, norm_cfg: layer configs.
        **kwargs: passed to every block (``style``, ``init_cfg``).
    """

    def __init__(self,
                 block: Type[Union[BasicBlock, Bottleneck]],
                 inplanes: int,
                 planes: int,
                 num_blocks: int,
                 stride: int = 1,
                 dilation: int = 1,
                 avg_down: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False,
                 **kwargs) -> None:
        norm_cfg = norm_cfg or dict(type='BN')
        self.block = block
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_planes:
            layers: List[nn.Module] = []
            if avg_down:
                # Also at stride 1 (an identity), as mmsegmentation: the
                # conv and norm keys are then downsample.1 and .2 in every
                # stage. ceil_mode keeps odd sizes equal to the strided
                # 3x3 conv's output.
                layers.append(nn.AvgPool2d(
                    kernel_size=stride, stride=stride, ceil_mode=True,
                    count_include_pad=False))
            layers += [
                build_conv_layer(conv_cfg, inplanes, out_planes, 1,
                                 stride=1 if avg_down else stride,
                                 bias=False),
                build_norm_layer(norm_cfg, out_planes)[1]]
            downsample = nn.Sequential(*layers)
        if multi_grid is not None:
            dilations = list(multi_grid)
        else:
            first = (dilation // 2
                     if dilation > 1 and contract_dilation else dilation)
            dilations = [first] + [dilation] * (num_blocks - 1)
        blocks = []
        for i in range(num_blocks):
            blocks.append(block(
                inplanes=inplanes if i == 0 else out_planes,
                planes=planes,
                stride=stride if i == 0 else 1,
                dilation=dilations[i],
                downsample=downsample if i == 0 else None,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                **kwargs))
        super().__init__(*blocks)
