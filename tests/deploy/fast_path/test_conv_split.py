"""Wide convolutions split over input-channel chunks compute the same."""
import copy

import pytest
import torch
from torch import nn

from emanet.deploy.fast_path.conv_split import (
    InputSplitConv2d,
    replace_submodule,
    split_wide_convs,
)

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


@pytest.mark.parametrize('stride,dilation,bias', [(1, 1, True),
                                                   (2, 2, False)])
def test_input_split_conv_equals_conv(stride, dilation, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(40, 6, 3, stride=stride, padding=dilation,
                     dilation=dilation, bias=bias).eval()
    split = InputSplitConv2d(conv, chunk=16)
    assert [w.shape[1] for w in split.weights] == [16, 16, 8]
    x = torch.randn(2, 40, 17, 19)
    with torch.no_grad():
        torch.testing.assert_close(split(x), conv(x), atol=1e-5, rtol=1e-5)


def test_split_wide_convs_replaces_only_wide_kxk_convs(plain_model):
    model = copy.deepcopy(plain_model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x, mode='tensor')
        # the tiny head has 64 input channels: split what has >= 64
        names = split_wide_convs(model, min_in_channels=64, chunk=24)
        got = model(x, mode='tensor')
    assert 'decode_head.ema_in_conv.conv' in names
    assert 'decode_head.conv_cat.conv' in names
    assert all(isinstance(model.get_submodule(n), InputSplitConv2d)
               for n in names)
    # 1x1 convolutions and narrow ones stay plain convolutions
    assert not any(n.endswith('conv_seg') for n in names)
    assert type(model.backbone.stem[0]) is nn.Conv2d
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_only_plain_zero_padded_ungrouped_convs_are_split():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, padding=1, groups=2),
        nn.Conv2d(8, 8, 3, padding=1, padding_mode='reflect'),
        nn.Conv2d(8, 8, (1, 3), padding=(0, 1)),
        nn.Conv2d(8, 4, 1)).eval()
    x = torch.randn(1, 8, 9, 11)
    with torch.no_grad():
        expected = model(x)
        names = split_wide_convs(model, min_in_channels=8, chunk=3)
        got = model(x)
    assert names == ['0', '3']  # 1 x k kernels count as k x k ones
    assert [type(m) for m in model] == [
        InputSplitConv2d, nn.Conv2d, nn.Conv2d, InputSplitConv2d, nn.Conv2d]
    assert [w.shape[1] for w in model[0].weights] == [3, 3, 2]
    assert not any(p.requires_grad for p in model[0].parameters())
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_replace_submodule_at_any_depth():
    model = nn.Sequential(nn.Sequential(nn.ReLU()), nn.ReLU())
    replace_submodule(model, '0.0', nn.Identity())
    replace_submodule(model, '1', nn.Tanh())
    assert isinstance(model[0][0], nn.Identity)
    assert isinstance(model[1], nn.Tanh)
