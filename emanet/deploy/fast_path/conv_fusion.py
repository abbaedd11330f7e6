"""Convolution + ReLU (+ residual add) as one oneDNN call, float32 on CPU.

After BatchNorm folding, most of the network is ``relu(conv(x))`` or, at
the end of a residual block, ``relu(conv(x) + identity)``. PyTorch's CPU
build ships oneDNN convolutions with fused post-operations
(``torch.ops.mkldnn._convolution_pointwise``, the kernels inductor uses);
calling them directly saves a full read and write of each block's output.
The results are those of the unfused ops (the same float32 arithmetic).
"""
from typing import List

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from emanet.models.backbones import BasicBlock, Bottleneck

from .conv_split import replace_submodule
from .winograd import WinogradConv2d


def fusion_available() -> bool:
    """Whether this torch build has oneDNN's fused convolutions."""
    return torch.backends.mkldnn.is_available() and hasattr(
        torch.ops.mkldnn, '_convolution_pointwise')


def _geometry(conv: nn.Conv2d) -> tuple:
    return (list(conv.padding), list(conv.stride), list(conv.dilation),
            conv.groups)


def conv_relu(conv: nn.Module, x: Tensor) -> Tensor:
    """``relu(conv(x))``, ``x`` ``[B, Cin, H, W]`` float32 on CPU."""
    if isinstance(conv, WinogradConv2d):
        return conv(x, relu=True)
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, *_geometry(conv), 'relu', [], '')


def conv_add_relu(conv: nn.Module, x: Tensor, other: Tensor) -> Tensor:
    """``relu(conv(x) + other)``; ``other`` has the output's shape."""
    if isinstance(conv, WinogradConv2d):
        return conv(x).add_(other).relu_()
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, other, conv.weight, conv.bias, *_geometry(conv), 'add', 1.0,
        'relu', [], '')


class FusedConvReLU(nn.Module):
    """A ``ConvModule`` (conv, folded norm, ReLU) as one fused call."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        return conv_relu(self.conv, x)


def _block_layers(block: nn.Module, kind: str) -> List[nn.Module]:
    """``[conv1, conv2(, conv3)]`` or the matching norms of a ResNet block."""
    depth = 3 if isinstance(block, Bottleneck) else 2
    return [getattr(block, f'{kind}{i}') for i in range(1, depth + 1)]


class FusedResBlock(nn.Module):
    """A ResNet ``BasicBlock`` / ``Bottleneck`` with folded norms.

    Every convolution but the last is fused with its ReLU, the last with
    the residual add and the final ReLU.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_block_layers(block, 'conv'))
        self.downsample = block.downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = x
        for conv in self.convs[:-1]:
            out = conv_relu(conv, out)  # [B, P, H', W']
        return conv_add_relu(self.convs[-1], out, identity)  # [B, C, H', W']


def _is_folded(norm: nn.Module) -> bool:
    return isinstance(norm, nn.Identity)


def _fusable_conv(conv: nn.Module) -> bool:
    return type(conv) in (nn.Conv2d, WinogradConv2d)


def _fusable_conv_module(m: nn.Module) -> bool:
    return (isinstance(m, ConvModule) and _fusable_conv(m.conv) and
            tuple(m.order) == ('conv', 'norm', 'act') and
            isinstance(getattr(m, 'activate', None), nn.ReLU) and
            (not m.with_norm or _is_folded(m.norm)))


def _fusable_block(m: nn.Module) -> bool:
    if not isinstance(m, (BasicBlock, Bottleneck)):
        return False
    return all(_is_folded(n) for n in _block_layers(m, 'norm')) and all(
        _fusable_conv(c) for c in _block_layers(m, 'conv'))


def fuse_conv_relu(model: nn.Module) -> List[str]:
    """Replace folded conv/ReLU modules and residual blocks by fused ones.

    Call after :func:`~emanet.deploy.fast_path.fuse_conv_bn`, for
    float32 inference on CPU only (the fused kernels take no autocast).

    Returns:
        list[str]: names of the replaced modules.
    """
    names = []
    for name, m in list(model.named_modules()):
        if any(name.startswith(done + '.') for done in names):
            continue
        if _fusable_block(m):
            replace_submodule(model, name, FusedResBlock(m))
        elif _fusable_conv_module(m):
            replace_submodule(model, name, FusedConvReLU(m.conv))
        else:
            continue
        names.append(name)
    return names
