"""Building a segmentor outside the Runner."""
import copy

import pytest
import torch

from emanet.models.builder import (
    build_model_outside_runner,
    revert_sync_bn_cfg,
)

from helpers.tiny_emanet import tiny_emanet_cfg

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

SYNC = dict(type='SyncBN', requires_grad=True)


def test_revert_sync_bn_cfg_counts_nested_entries():
    cfg = dict(backbone=dict(norm_cfg=dict(SYNC)),
               heads=[dict(norm_cfg=dict(SYNC)), dict(norm_cfg=None)],
               other=(dict(type='SyncBN'), ))
    assert revert_sync_bn_cfg(cfg) == 3
    assert cfg['backbone']['norm_cfg'] == dict(type='BN', requires_grad=True)
    assert cfg['heads'][0]['norm_cfg']['type'] == 'BN'
    assert revert_sync_bn_cfg(cfg) == 0


def test_pretrained_off_and_sync_bn_reverted_input_unchanged():
    cfg = tiny_emanet_cfg()
    cfg['pretrained'] = 'open-mmlab://resnet18_v1c'  # never fetched
    cfg['decode_head']['norm_cfg'] = dict(SYNC)
    cfg['backbone']['norm_cfg'] = dict(SYNC)
    before = copy.deepcopy(cfg)
    model = build_model_outside_runner(cfg)
    assert cfg == before
    assert model.backbone.pretrained is None
    kinds = {type(m) for m in model.modules()}
    assert torch.nn.SyncBatchNorm not in kinds
    assert torch.nn.BatchNorm2d in kinds


def test_sync_bn_built_in_code_is_reverted_too(monkeypatch):
    # a model that makes SyncBN itself, not from its norm_cfg
    from emanet.models import builder
    built = builder.MODELS.build(tiny_emanet_cfg())
    built.extra = torch.nn.SyncBatchNorm(4)
    monkeypatch.setattr(builder.MODELS, 'build', lambda cfg: built)
    model = build_model_outside_runner(tiny_emanet_cfg())
    assert not isinstance(model.extra, torch.nn.SyncBatchNorm)
