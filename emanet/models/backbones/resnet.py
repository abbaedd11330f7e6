"""ResNet backbones (plain, V1c: deep stem, V1d: deep stem and average-pool
shortcuts) with mmsegmentation's module names.

State-dict keys match mmsegmentation 1.x (``stem.0.weight``,
``layer1.0.conv1.weight``, ``layer1.0.downsample.1.weight`` ...), so its
checkpoints load unchanged.
"""
import inspect
from typing import Any, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.registry import MODELS

from .blocks import BasicBlock, Bottleneck, CfgType, ResLayer
from .pretrained import pretrained_error

ARCH_SETTINGS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def _arch_error(depth: Any, num_stages: Any, strides: Sequence[int],
                dilations: Sequence[int],
                out_indices: Sequence[int]) -> Optional[Tuple[type, str]]:
    """Why these arguments build no ResNet (exception class, message)."""
    if depth not in ARCH_SETTINGS:
        return KeyError, (f'depth={depth!r} is not a ResNet depth; choose '
                          f'from {", ".join(map(str, ARCH_SETTINGS))}')
    if not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
        return ValueError, f'num_stages={num_stages!r}; choose from 1 to 4'
    if not len(strides) == len(dilations) == num_stages:
        return ValueError, (
            f'strides={tuple(strides)} and dilations={tuple(dilations)} '
            f'need num_stages={num_stages} entries each')
    if not out_indices or max(out_indices) >= num_stages:
        return ValueError, (
            f'out_indices={tuple(out_indices)} must name stages 0 to '
            f'{num_stages - 1} (num_stages={num_stages})')
    return None


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
        avg_down (bool): average-pool the strided shortcuts (ResNetV1d).
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

    arch_settings = ARCH_SETTINGS

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
        error = _arch_error(depth, num_stages, strides, dilations,
                            out_indices)
        if error is not None:
            raise error[0](f'{type(self).__name__}: {error[1]}')
        if init_cfg and pretrained:
            raise ValueError('set either `pretrained` or `init_cfg` of the '
                             'backbone, not both')
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
        self.avg_down = avg_down
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
                dilation=dilations[i], style=style, avg_down=avg_down,
                conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                multi_grid=multi_grid if i == num_stages - 1 else None,
                contract_dilation=contract_dilation,
                init_cfg=block_init_cfg)
            inplanes = planes * block.expansion
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = inplanes
        self._freeze_stages()

    @classmethod
    def out_channels_for(cls, **cfg: Any) -> Tuple[int, ...]:
        """Channels of each output of a backbone built from ``cfg``.

        Read from the arguments without building anything: a config is
        checked against its heads in microseconds.

        Args:
            **cfg: the backbone's config keys (``depth``,
                ``base_channels``, ``num_stages``, ``out_indices``, ...);
                the constructor's defaults fill the others.

        Returns:
            tuple: one channel count per output, in forward order
            (``(256, 512, 1024, 2048)`` for depth 50).

        Raises:
            ValueError: the constructor would refuse ``cfg`` (the message
                names the key).
        """
        defaults = inspect.signature(ResNet.__init__).parameters

        def arg(name: str) -> Any:
            return cfg.get(name, defaults[name].default)

        depth, num_stages = arg('depth'), arg('num_stages')
        out_indices = tuple(arg('out_indices'))
        error = _arch_error(depth, num_stages, arg('strides'),
                            arg('dilations'), out_indices)
        if error is not None:
            raise ValueError(error[1])
        block = ARCH_SETTINGS[depth][0]
        return tuple(arg('base_channels') * 2**i * block.expansion
                     for i in range(num_stages) if i in out_indices)

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
                raise pretrained_error(cfg['checkpoint'], err) from err
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


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet with the deep stem and average-pool shortcuts (a strided
    shortcut pools before its 1x1 conv; the paper of V1c). Same arguments
    as :class:`ResNet` apart from ``deep_stem``/``avg_down``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
