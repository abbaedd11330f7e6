"""Winograd F(4x4, 3x3) convolutions equal direct ones."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from emanet.deploy.fast_path import prepare_for_inference
from emanet.deploy.fast_path.conv_fusion import FusedConvReLU, FusedResBlock
from emanet.deploy.fast_path.winograd import (
    WinogradConv2d,
    winograd_convs,
    winograd_eligible,
)

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def reference(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The direct convolution in float64, cast back to float32."""
    bias = None if conv.bias is None else conv.bias.double()
    return F.conv2d(x.double(), conv.weight.double(), bias,
                    padding=conv.padding, dilation=conv.dilation).float()


@pytest.mark.parametrize('dilation,size,bias', [
    (1, (16, 24), True),  # whole tiles
    (1, (13, 21), False),  # partial tiles are cropped
    (2, (18, 11), True),
    (4, (20, 33), True),
])
def test_winograd_conv_equals_direct_conv(dilation, size, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(20, 12, 3, padding=dilation, dilation=dilation,
                     bias=bias)
    # the chunks split both the 20 input and the 12 output channels
    wino = WinogradConv2d(conv, in_chunk=8, out_chunk=5, weight_block=5)
    x = torch.randn(2, 20, *size)
    with torch.no_grad():
        expected = reference(conv, x)
        out = wino(x)
        out_cl = wino(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == (2, 12, *size)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(out_cl, out)
    assert (conv(x) - expected).abs().max() < 1e-5  # float32 direct


def test_winograd_relu_and_one_pixel_input():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 3, 3, padding=1)
    wino = WinogradConv2d(conv)
    for shape in [(1, 4, 7, 9), (1, 4, 1, 1)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            torch.testing.assert_close(wino(x, relu=True),
                                       reference(conv, x).relu(),
                                       atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=1),
    dict(kernel_size=3, padding=1, dilation=2),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=1, padding_mode='reflect'),
])
def test_only_3x3_stride1_same_size_convs_are_eligible(kwargs):
    assert winograd_eligible(nn.Conv2d(4, 4, 3, padding=1))
    conv = nn.Conv2d(4, 4, **kwargs)
    assert not winograd_eligible(conv)
    with pytest.raises(ValueError, match='not a 3x3 stride-1'):
        WinogradConv2d(conv)


def test_convs_sharing_a_workspace_give_their_own_results():
    torch.manual_seed(0)
    convs = [nn.Conv2d(6, 6, 3, padding=d, dilation=d) for d in (1, 2)]
    net = nn.Sequential(*convs)
    x = torch.randn(1, 6, 12, 10)
    with torch.no_grad():
        expected = reference(convs[1], reference(convs[0], x))
        names = winograd_convs(net, min_channels=6)
        got = net(x)
    assert names == ['0', '1']
    assert net[0].workspace is net[1].workspace
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    twin = copy.deepcopy(net)  # e.g. a copy of a prepared model
    assert twin[0].workspace is twin[1].workspace is not net[0].workspace
    with torch.no_grad():
        assert torch.equal(twin(x), got)


def test_winograd_convs_respects_min_channels(plain_model):
    model = copy.deepcopy(plain_model)
    names = winograd_convs(model, min_channels=32)
    # ResNet-18 layers 3 and 4 (32 and 64 channels) and the 64-channel
    # head input; the 8/16-channel layers and strided convs stay direct.
    assert 'backbone.layer3.1.conv1' in names
    assert 'backbone.layer4.0.conv2' in names
    assert 'backbone.layer3.0.conv2' in names
    assert 'backbone.layer3.0.conv1' not in names  # 16 input channels
    assert not any(n.startswith(('backbone.layer1', 'backbone.stem'))
                   for n in names)
    assert all(min(model.get_submodule(n).in_channels,
                   model.get_submodule(n).out_channels) >= 32
               for n in names)


def test_fast_path_with_winograd_keeps_predictions(plain_model, monkeypatch):
    inputs = torch.randn(2, 3, 64, 96,
                         generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain_logits = plain_model(inputs, mode='tensor')
        plain_pred = plain_model(inputs, mode='predict')
    fast = prepare_for_inference(copy.deepcopy(plain_model), winograd=8)
    block = fast.backbone.layer3[1]
    assert isinstance(block, FusedResBlock)
    assert all(isinstance(c, WinogradConv2d) for c in block.convs)
    assert isinstance(fast.decode_head.bottleneck, FusedConvReLU)
    assert isinstance(fast.decode_head.bottleneck.conv, WinogradConv2d)
    torch.testing.assert_close(fast(inputs, mode='tensor'), plain_logits,
                               atol=1e-4, rtol=1e-4)
    for plain_sample, fast_sample in zip(plain_pred,
                                         fast(inputs, mode='predict')):
        assert torch.equal(fast_sample.pred_sem_seg.data,
                           plain_sample.pred_sem_seg.data)
    # bf16 autocast and winograd=False keep direct convolutions (bf16
    # forced, so that CPUs without native bf16 check it too)
    monkeypatch.setenv('EMANET_FORCE_BF16', '1')
    for kwargs in [dict(amp='bf16', winograd=8), dict(winograd=False)]:
        other = prepare_for_inference(copy.deepcopy(plain_model), **kwargs)
        assert not any(isinstance(m, WinogradConv2d)
                       for m in other.modules())
