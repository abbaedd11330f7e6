"""ResNet backbones (V1c: deep stem) with mmsegmentation's module names.

State-dict keys match mmsegmentation 1.x (``stem.0.weight``,
``layer1.0.conv1.weight``, ``layer1.0.bn1.running_mean``,
``layer1.0.downsample.1.weight`` ...), so its checkpoints load unchanged.
"""
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Type, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, Sequential
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.registry import MODELS
from emanet.utils.errors import CheckpointError

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
            downsample = nn.Sequential(
                build_conv_layer(conv_cfg, inplanes, out_planes, 1,
                                 stride=stride, bias=False),
                build_norm_layer(norm_cfg, out_planes)[1])
        if multi_grid is not None:
            dilations = list(multi_grid)
        else:
            first = (dilation // 2
                     if dilation > 1 and contract_dilation else dilation)
            dilations = [first] + [dilation] * (num_blocks - 1)
        layers = []
        for i in range(num_blocks):
            layers.append(block(
                inplanes=inplanes if i == 0 else out_planes,
                planes=planes,
                stride=stride if i == 0 else 1,
                dilation=dilations[i],
                downsample=downsample if i == 0 else None,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                **kwargs))
        super().__init__(*layers)


def _is_offline_error(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a failed network connection:
    no network, an unknown host, a refused or timed-out connection."""
    import socket
    import urllib.error
    while err is not None:
        if isinstance(err, (urllib.error.URLError, socket.gaierror,
                            ConnectionError, TimeoutError)):
            return True
        err = err.__cause__ or err.__context__
    return False


def _pretrained_error(checkpoint: str, err: Exception) -> CheckpointError:
    """The one-line error raised when pretrained weights cannot be loaded.

    It names the file or URL, says whether the machine seems offline, and
    how to go on: without the weights, or with a copy on disk.
    """
    url = checkpoint
    if checkpoint.startswith('open-mmlab://'):
        from mmengine.runner.checkpoint import get_external_models
        name = checkpoint[len('open-mmlab://'):]
        url = get_external_models().get(name, checkpoint)
    where = checkpoint if url == checkpoint else f'{checkpoint} ({url})'
    first = (str(err).strip().splitlines() or [''])[0].rstrip('.')
    reason = f'{type(err).__name__}: {first}'
    if _is_offline_error(err):
        what = (f'could not be downloaded: this machine seems offline '
                f'({reason})')
    else:
        what = f'could not be loaded ({reason})'
    copy = osp.basename(url) if '://' in url else 'local.pth'
    return CheckpointError(
        f'pretrained backbone weights {where} {what}. To train from '
        'scratch set --cfg-options model.pretrained=None (or '
        'model.backbone.init_cfg=None where the config sets it there); to '
        f'use a copy downloaded elsewhere set model.pretrained=/path/to/'
        f'{copy}')


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet backbone returning the outputs of the stages in ``out_indices``.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        in_channels (int): image channels. Default: 3.
        stem_channels (int): stem output channels. Default: 64.
        base_channels (int): width of the first stage. Default: 64.
        num_stages (int): 1 to 4. Default: 4.
        strides (Sequence[int]): stride of each stage's first block.
        dilations (Sequence[int]): dilation of each stage.
        out_indices (Sequence[int]): stages whose outputs are returned.
        style (str): 'pytorch' or 'caffe' (where Bottleneck strides).
        deep_stem (bool): three 3x3 convs instead of one 7x7 conv.
        avg_down (bool): not supported (ResNetV1d); must be False.
        frozen_stages (int): stages (0 = stem) with frozen parameters and
            BN statistics; -1 freezes nothing.
        conv_cfg (dict, optional): conv layer config.
        norm_cfg (dict): norm layer config (BN or SyncBN).
        norm_eval (bool): keep BN layers in eval mode while training.
        multi_grid (Sequence[int], optional): dilations of the last stage.
        contract_dilation (bool): halve the first dilation of each stage.
        zero_init_residual (bool): zero the last norm of each block.
        pretrained (str, optional): checkpoint path or URL (deprecated in
            favour of ``init_cfg``, kept because configs use it).
        init_cfg (dict | list[dict], optional): mmengine init config.

    Input ``[B, 3, H, W]``; stage ``i`` outputs
    ``[B, base_channels * 2**i * expansion, H / s_i, W / s_i]``.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 norm_eval: bool = False,
                 multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False,
                 zero_init_residual: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'invalid ResNet depth {depth}; choose from '
                           f'{sorted(self.arch_settings)}')
        if init_cfg and pretrained:
            raise ValueError('set either `pretrained` or `init_cfg` of the '
                             'backbone, not both')
        if avg_down:
            raise NotImplementedError('avg_down (ResNetV1d) is not supported')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be 1..4, got {num_stages}')
        if not len(strides) == len(dilations) == num_stages:
            raise ValueError('strides and dilations need num_stages entries')
        if max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {out_indices} exceed num_stages')
        block, stage_blocks = self.arch_settings[depth]
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        self.pretrained = pretrained
        block_init_cfg = None
        if isinstance(pretrained, str):
            self.init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        elif pretrained is not None:
            raise TypeError('pretrained must be a str or None')
        elif init_cfg is None:
            self.init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1,
                     layer=['_BatchNorm', 'GroupNorm'])]
            if zero_init_residual:
                # blocks start as identities
                last = 'norm2' if block is BasicBlock else 'norm3'
                block_init_cfg = dict(
                    type='Constant', val=0, override=dict(name=last))
        self.depth = depth
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.dilations = dilations
        self.out_indices = out_indices
        self.style = style
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.contract_dilation = contract_dilation
        self.block = block
        self.stage_blocks = stage_blocks[:num_stages]
        self._make_stem_layer(in_channels, stem_channels)
        inplanes = stem_channels
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            layer = ResLayer(
                block=block, inplanes=inplanes, planes=planes,
                num_blocks=num_blocks, stride=strides[i],
                dilation=dilations[i], style=style, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                multi_grid=multi_grid if i == num_stages - 1 else None,
                contract_dilation=contract_dilation,
                init_cfg=block_init_cfg)
            inplanes = planes * block.expansion
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = inplanes
        self._freeze_stages()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        half = stem_channels // 2
        if self.deep_stem:
            # stem.0/1/2, stem.3/4/5, stem.6/7/8: conv, norm, relu
            layers = []
            for cin, cout, stride in ((in_channels, half, 2),
                                      (half, half, 1),
                                      (half, stem_channels, 1)):
                layers += [
                    build_conv_layer(self.conv_cfg, cin, cout, 3,
                                     stride=stride, padding=1, bias=False),
                    build_norm_layer(self.norm_cfg, cout)[1],
                    nn.ReLU(inplace=True)]
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1 = build_conv_layer(
                self.conv_cfg, in_channels, stem_channels, 7, stride=2,
                padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(
                self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self) -> None:
        """Freeze parameters and BN statistics of the first stages."""
        frozen: List[nn.Module] = []
        if self.frozen_stages >= 0:
            frozen += ([self.stem] if self.deep_stem
                       else [self.conv1, self.norm1])
        frozen += [getattr(self, f'layer{i}')
                   for i in range(1, self.frozen_stages + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise, turning a failed pretrained download into one clear
        error that says how to go on without it."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            try:
                super().init_weights()
            except Exception as err:  # noqa: BLE001 (network, file, format)
                raise _pretrained_error(cfg['checkpoint'], err) from err
        else:
            super().init_weights()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """``[B, 3, H, W]`` -> tuple of stage outputs in ``out_indices``."""
        if self.deep_stem:
            x = self.stem(x)  # [B, stem, H/2, W/2]
        else:
            x = self.relu(self.norm1(self.conv1(x)))  # [B, stem, H/2, W/2]
        x = self.maxpool(x)  # [B, stem, H/4, W/4]
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)  # [B, C_i, H/s_i, W/s_i]
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ResNet':
        """Switch mode, keeping frozen stages (and BN with norm_eval) in eval
        mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNet with the deep stem (three 3x3 convs), `Bag of Tricks
    <https://arxiv.org/abs/1812.01187>`_. Same arguments as :class:`ResNet`
    apart from ``deep_stem``/``avg_down``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(deep_stem=True, avg_down=False, **kwargs)
