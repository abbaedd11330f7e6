"""Fused convolution + ReLU (+ residual add) computes the unfused ops.

Tolerance: the fused kernels may sum in another order, so each output may
differ from the unfused one by the float32 rounding of its sums. For a sum
of ``n`` terms that is at most ``n * eps`` times the sum of the terms'
magnitudes (twice the worst case of one order); through a chain of convs
the terms of the layers add up. :func:`_rounding_bound` computes this per
output element, running the module with absolute weights on absolute
inputs in float64: far below the error of a wrong geometry, bias, ReLU or
residual.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from emanet.deploy.fast_path import prepare_for_inference
from emanet.deploy.fast_path.conv_fusion import (
    FusedConvReLU,
    FusedResBlock,
    conv_add_relu,
    conv_relu,
    fuse_conv_relu,
    fusion_available,
)
from emanet.deploy.fast_path.winograd import WinogradConv2d
from emanet.models.backbones import BasicBlock, Bottleneck

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = [
    pytest.mark.numerics,
    pytest.mark.skipif(not fusion_available(),
                       reason='this torch build has no oneDNN fused '
                       'convolutions'),
]

EPS = torch.finfo(torch.float32).eps


def _terms(module: nn.Module) -> int:
    """Products and bias additions per output element, over all convs."""
    return sum(m.in_channels // m.groups * m.kernel_size[0] *
               m.kernel_size[1] + 1 for m in module.modules()
               if isinstance(m, nn.Conv2d))


def _rounding_bound(module: nn.Module, x: torch.Tensor,
                    extra_terms: int = 0) -> torch.Tensor:
    """Largest float32 difference between two summation orders."""
    magnitude = copy.deepcopy(module).double()
    with torch.no_grad():
        for p in magnitude.parameters():
            p.abs_()
        out = magnitude(x.double().abs())
    return (EPS * (_terms(module) + extra_terms) * out).float()


def _conv(cin, cout, k, bias=True, **geometry):
    conv = nn.Conv2d(cin, cout, k, bias=bias, **geometry).eval()
    return conv.requires_grad_(False)


@pytest.mark.parametrize('geometry', [
    dict(padding=1),
    dict(stride=2, padding=2, dilation=2),
    dict(padding=1, groups=4, bias=False),
    dict(stride=2),
])
def test_conv_relu_equals_relu_of_conv(geometry):
    torch.manual_seed(0)
    conv = _conv(16, 12, 3, **geometry)
    x = torch.randn(2, 16, 13, 17)
    with torch.no_grad():
        expected = F.relu(conv(x))
        got = conv_relu(conv, x)
    assert got.shape == expected.shape
    assert ((got - expected).abs() <= _rounding_bound(conv, x)).all()
    assert (expected == 0).any() and (expected > 0).any()


def test_conv_add_relu_equals_unfused():
    torch.manual_seed(0)
    conv = _conv(16, 12, 3, padding=1)
    x, other = torch.randn(2, 16, 9, 11), torch.randn(2, 12, 9, 11)
    with torch.no_grad():
        expected = F.relu(conv(x) + other)
        got = conv_add_relu(conv, x, other)
    bound = _rounding_bound(conv, x, extra_terms=1) + EPS * other.abs()
    assert ((got - expected).abs() <= bound).all()


def test_winograd_convs_fuse_their_relu():
    torch.manual_seed(0)
    conv = _conv(16, 12, 3, padding=1)
    wino = WinogradConv2d(conv)
    x, other = torch.randn(1, 16, 12, 12), torch.randn(1, 12, 12, 12)
    with torch.no_grad():
        plain = wino(x)
        assert torch.equal(conv_relu(wino, x), F.relu(plain))
        assert torch.equal(conv_add_relu(wino, x, other),
                           F.relu(plain + other))


def _folded(block: nn.Module) -> nn.Module:
    """``block`` with its norms folded away: Identity norms, conv biases."""
    depth = 3 if isinstance(block, Bottleneck) else 2
    for i in range(1, depth + 1):
        setattr(block, getattr(block, f'norm{i}_name'), nn.Identity())
        conv = getattr(block, f'conv{i}')
        conv.bias = nn.Parameter(torch.randn(conv.out_channels) * 0.1)
    return block.eval().requires_grad_(False)


@pytest.mark.parametrize('kind', ['basic', 'bottleneck'])
def test_fused_res_block_equals_block(kind):
    torch.manual_seed(0)
    if kind == 'basic':
        block = BasicBlock(16, 16, dilation=2)
        x = torch.randn(2, 16, 10, 14)
    else:
        downsample = _conv(8, 16, 1, stride=2)
        block = Bottleneck(8, 4, stride=2, downsample=downsample)
        x = torch.randn(2, 8, 10, 14)
    block = _folded(block)
    fused = FusedResBlock(block)
    assert len(fused.convs) == (2 if kind == 'basic' else 3)
    with torch.no_grad():
        expected = block(x)
        got = fused(x)
    assert got.shape == expected.shape
    # + 1: the residual add
    assert ((got - expected).abs() <= _rounding_bound(block, x, 1)).all()


def test_fuse_conv_relu_replaces_folded_blocks_and_conv_modules(
        plain_model):
    model = copy.deepcopy(plain_model)
    # Unfolded norms: nothing to fuse.
    assert fuse_conv_relu(model) == []
    prepare_for_inference(model, channels_last=False, fuse_relu=False,
                          winograd=False)
    names = fuse_conv_relu(model)
    blocks = [f'backbone.layer{i}.{j}' for i in range(1, 5)
              for j in range(len(model.backbone.get_submodule(
                  f'layer{i}')))]
    assert set(blocks) <= set(names)
    assert all(isinstance(model.get_submodule(n), FusedResBlock)
               for n in blocks)
    assert 'decode_head.bottleneck' in names
    others = [n for n in names if n not in blocks]
    assert all(isinstance(model.get_submodule(n), FusedConvReLU)
               for n in others)
    # Nothing inside a replaced module is replaced again.
    assert not any(a.startswith(b + '.') for a in names for b in names)
    # The classifier has no ReLU and stays a plain convolution.
    assert type(model.decode_head.conv_seg) is nn.Conv2d
    assert fuse_conv_relu(model) == []  # fused already
