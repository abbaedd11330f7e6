"""ResNet blocks and stages: shapes, where the stride and dilations go,
the shortcut, mmsegmentation's names, and the in-place residual add.

The blocks add the identity and apply the ReLU in place. Training must
not notice: loss and every gradient equal those of the out-of-place
forward ``relu(out + identity)``, written out below and run on the same
modules in the same process.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.models.backbones import BasicBlock, Bottleneck, ResLayer


def reference_forward(block: nn.Module, x: Tensor) -> Tensor:
    """The block's forward with an out-of-place add and ReLU."""
    identity = x if block.downsample is None else block.downsample(x)
    depth = 3 if isinstance(block, Bottleneck) else 2
    out = x
    for i in range(1, depth + 1):
        out = getattr(block, f'norm{i}')(getattr(block, f'conv{i}')(out))
        if i < depth:
            out = F.relu(out)
    return F.relu(out + identity)


def randomise(module: nn.Module, seed: int = 0) -> None:
    """Random weights and BN affines: no zero-init residual branch."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen,
                                    dtype=param.dtype) * 0.5)
        for bn in module.modules():
            if isinstance(bn, _BatchNorm):
                bn.weight.add_(1.0)


def grads_of(module: nn.Module, x: Tensor, weight: Tensor, forward):
    """Loss and gradients (parameters, then input) of one train step."""
    module.zero_grad(set_to_none=True)
    inp = x.clone().requires_grad_(True)
    out = forward(inp)
    loss = (out * weight).sum()
    loss.backward()
    assert torch.equal(inp.detach(), x), 'the input was modified'
    return loss.detach(), out.detach(), [
        p.grad.clone() for p in module.parameters()] + [inp.grad.clone()]


def build(block_type, downsample: bool) -> ResLayer:
    planes = 4
    inplanes = 6 if downsample else planes * block_type.expansion
    layer = ResLayer(block_type, inplanes, planes, num_blocks=2,
                     stride=2 if downsample else 1, dilation=2,
                     contract_dilation=True)
    assert (layer[0].downsample is not None) == downsample
    return layer.double().train()


@pytest.mark.parametrize('downsample', [False, True])
@pytest.mark.parametrize('block_type', [BasicBlock, Bottleneck])
def test_inplace_blocks_train_like_out_of_place(block_type, downsample):
    torch.manual_seed(0)
    layer = build(block_type, downsample)
    randomise(layer)
    x = torch.randn(2, layer[0].conv1.in_channels, 12, 10,
                    dtype=torch.float64)
    weight = torch.randn(2, 4 * block_type.expansion, 6 if downsample
                         else 12, 5 if downsample else 10,
                         dtype=torch.float64)

    def reference(inp):  # two blocks: the second reads the first's ReLU
        for block in layer:
            inp = reference_forward(block, inp)
        return inp

    loss, out, grads = grads_of(layer, x, weight, layer)
    ref_loss, ref_out, ref_grads = grads_of(layer, x, weight, reference)
    assert out.shape == ref_out.shape
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-12)
    assert len(grads) == len(list(layer.parameters())) + 1
    for got, want in zip(grads, ref_grads):
        assert got.abs().max() > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('block_type', [BasicBlock, Bottleneck])
def test_residual_add_and_relu_run_in_place(block_type):
    layer = build(block_type, downsample=True).float().eval()
    x = torch.randn(1, 6, 8, 8)
    with torch.no_grad(), torch.profiler.profile() as prof:
        layer(x)
    names = [event.name for event in prof.events()]
    assert 'aten::add' not in names
    assert names.count('aten::add_') == 2  # one per block
    assert 'aten::relu' not in names


@pytest.mark.parametrize('style,strides', [('pytorch', ((1, 1), (2, 2))),
                                           ('caffe', ((2, 2), (1, 1)))])
def test_bottleneck_style_puts_the_stride_on_one_conv(style, strides):
    block = Bottleneck(8, 4, stride=2, dilation=2, style=style)
    assert (block.conv1.stride, block.conv2.stride) == strides
    assert block.conv2.dilation == (2, 2) and block.conv2.padding == (2, 2)
    assert block.conv3.stride == (1, 1)
    assert [block.norm1.num_features, block.norm2.num_features,
            block.norm3.num_features] == [4, 4, 16]


def test_bottleneck_refuses_an_unknown_style():
    with pytest.raises(ValueError, match="style must be 'pytorch' or "
                       "'caffe', got 'keras'"):
        Bottleneck(8, 4, style='keras')


def test_blocks_keep_mmsegmentations_state_dict_names():
    basic = BasicBlock(4, 4)
    assert sorted({k.rsplit('.', 1)[0] for k in basic.state_dict()}) == [
        'bn1', 'bn2', 'conv1', 'conv2']
    assert basic.norm1 is basic.bn1 and basic.norm2 is basic.bn2
    bottleneck = Bottleneck(16, 4)
    assert bottleneck.norm3 is bottleneck.bn3


@pytest.mark.parametrize('block_type,out', [(BasicBlock, 4),
                                            (Bottleneck, 16)])
def test_strided_block_output_shape(block_type, out):
    shortcut = nn.Sequential(nn.Conv2d(6, out, 1, stride=2, bias=False),
                             nn.BatchNorm2d(out))
    block = block_type(6, 4, stride=2, downsample=shortcut).eval()
    with torch.no_grad():
        y = block(torch.randn(2, 6, 9, 10))
    assert y.shape == (2, out, 5, 5)
    assert (y >= 0).all()  # the final ReLU


def test_basic_block_dilates_only_its_first_conv():
    block = BasicBlock(4, 4, dilation=4)
    assert block.conv1.dilation == (4, 4) and block.conv1.padding == (4, 4)
    assert block.conv2.dilation == (1, 1) and block.conv2.padding == (1, 1)


@pytest.mark.parametrize('kwargs,dilations', [
    (dict(dilation=4), [4, 4, 4]),
    (dict(dilation=4, contract_dilation=True), [2, 4, 4]),
    (dict(dilation=1, contract_dilation=True), [1, 1, 1]),
    (dict(dilation=4, multi_grid=(1, 2, 4)), [1, 2, 4]),
])
def test_stage_dilations(kwargs, dilations):
    layer = ResLayer(Bottleneck, 16, 4, num_blocks=3, **kwargs)
    assert [block.conv2.dilation[0] for block in layer] == dilations


def test_stage_strides_its_first_block_and_shortcut_only():
    layer = ResLayer(BasicBlock, 4, 8, num_blocks=3, stride=2)
    assert [block.conv1.stride for block in layer] == [(2, 2), (1, 1),
                                                       (1, 1)]
    conv, norm = layer[0].downsample
    assert conv.stride == (2, 2) and conv.out_channels == 8
    assert isinstance(norm, _BatchNorm)
    assert layer[1].downsample is None and layer[2].downsample is None
    # same width, stride 1: no shortcut conv at all
    assert ResLayer(BasicBlock, 8, 8, num_blocks=2)[0].downsample is None


def test_avg_down_pools_then_convolves_with_odd_sizes():
    layer = ResLayer(BasicBlock, 4, 8, num_blocks=1, stride=2,
                     avg_down=True).eval()
    pool, conv, _ = layer[0].downsample
    assert isinstance(pool, nn.AvgPool2d) and conv.stride == (1, 1)
    with torch.no_grad():
        # ceil_mode: the shortcut's size is the strided 3x3 conv's
        assert layer(torch.randn(1, 4, 7, 9)).shape == (1, 8, 4, 5)
