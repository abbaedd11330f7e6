"""prepare_for_inference: the fast model predicts what the plain model
predicts."""
import copy

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.deploy.fast_path import prepare_for_inference
from emanet.utils.precision import bf16_is_native

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def batch_norms(module: nn.Module) -> list:
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('channels_last', [False, True])
def test_fast_path_gives_plain_logits_and_predictions(plain_model,
                                                      channels_last):
    inputs = torch.randn(2, 3, 64, 128, generator=torch.Generator()
                         .manual_seed(2))
    with torch.no_grad():
        plain_logits = plain_model(inputs, mode='tensor')  # [2, 5, 8, 16]
        plain_pred = plain_model(inputs, mode='predict')
    fast = prepare_for_inference(copy.deepcopy(plain_model),
                                 channels_last=channels_last)
    fast_logits = fast(inputs, mode='tensor')
    fast_pred = fast(inputs, mode='predict')
    assert fast_logits.shape == plain_logits.shape == (2, 5, 8, 16)
    assert (fast_logits - plain_logits).abs().max().item() < 1e-3
    for plain_sample, fast_sample in zip(plain_pred, fast_pred):
        assert torch.equal(fast_sample.pred_sem_seg.data,
                           plain_sample.pred_sem_seg.data)
    assert fast_logits.is_inference()
    if channels_last:
        weight = fast.backbone.stem[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last)


def test_fuser_removes_every_bn_inference_runs(plain_model):
    model = copy.deepcopy(plain_model)
    before = num_params(model)
    assert len(batch_norms(model.backbone)) > 10
    prepare_for_inference(model, channels_last=False, fuse_relu=False)
    assert batch_norms(model.backbone) == []
    assert batch_norms(model.decode_head) == []
    # The auxiliary head is not run by inference, so it is left as it was.
    assert len(batch_norms(model.auxiliary_head)) == 1
    assert num_params(model) < before
    assert isinstance(model.backbone.layer1[0].bn1, nn.Identity)
    assert model.backbone.layer1[0].conv1.bias is not None


def test_bf16_autocast_path_runs_and_keeps_output_dtype(plain_model,
                                                       monkeypatch):
    # bf16 where the CPU computes it, float32 (the fallback) elsewhere
    monkeypatch.delenv('EMANET_FORCE_BF16', raising=False)
    fast = prepare_for_inference(copy.deepcopy(plain_model), amp='bf16')
    inputs = torch.randn(1, 3, 64, 64)
    logits = fast(inputs, mode='tensor')
    assert logits.dtype == (torch.bfloat16 if bf16_is_native('cpu')
                            else torch.float32)
    with torch.no_grad():
        plain = plain_model(inputs, mode='tensor')
    assert (logits.float() - plain).abs().max().item() < 0.5


def test_prepare_twice_is_refused(plain_model):
    model = prepare_for_inference(copy.deepcopy(plain_model))
    with pytest.raises(RuntimeError, match='already applied'):
        prepare_for_inference(model)


def test_conv_relu_fusion_replaces_blocks_and_keeps_logits(plain_model,
                                                           monkeypatch):
    from emanet.deploy.fast_path.conv_fusion import (
        FusedConvReLU,
        FusedResBlock,
        fusion_available,
    )
    if not fusion_available():
        pytest.skip('this torch build has no oneDNN fused convolutions')
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = plain_model(x, mode='tensor')
    fused = prepare_for_inference(copy.deepcopy(plain_model))
    assert isinstance(fused.backbone.layer1[0], FusedResBlock)
    assert isinstance(fused.backbone.layer4[1], FusedResBlock)
    assert isinstance(fused.decode_head.bottleneck, FusedConvReLU)
    torch.testing.assert_close(fused(x, mode='tensor'), expected,
                               atol=1e-4, rtol=1e-4)
    # bf16 autocast keeps the plain (autocast-aware) modules (forced, so
    # that CPUs without native bf16 check it too)
    monkeypatch.setenv('EMANET_FORCE_BF16', '1')
    bf16 = prepare_for_inference(copy.deepcopy(plain_model), amp='bf16')
    assert not any(isinstance(m, (FusedConvReLU, FusedResBlock))
                   for m in bf16.modules())


def test_backbone_returns_only_the_feature_the_head_reads(plain_model):
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = plain_model.backbone(x)
    fast = prepare_for_inference(copy.deepcopy(plain_model))
    feats = fast.backbone(x)
    assert len(feats) == len(expected) == 4
    assert feats[:3] == (None, None, None)  # decode head reads in_index 3
    torch.testing.assert_close(feats[3], expected[3], atol=1e-4, rtol=1e-4)
