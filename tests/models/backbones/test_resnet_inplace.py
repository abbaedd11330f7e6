"""The residual blocks add the identity and apply the ReLU in place.

Training must not notice: loss and every gradient equal those of the
out-of-place forward ``relu(out + identity)``, written out below and run
on the same modules in the same process.
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
