"""Backbone, heads and pretrained weights agree, read from the config."""
import copy
import os.path as osp

import pytest
from mmengine.config import Config

from emanet.config.model_check import model_errors, pretrained_warnings

from helpers.tool_loader import REPO

R50 = osp.join(REPO, 'configs', 'emanet',
               'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')


@pytest.fixture(scope='module')
def r50():
    return Config.fromfile(R50)


def edited(cfg: Config, **model) -> Config:
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict({f'model.{k}': v for k, v in model.items()})
    return cfg


def test_shipped_model_agrees(r50):
    assert model_errors(r50) == []


def test_every_head_to_change_is_named_with_its_value(r50):
    assert model_errors(edited(
        r50, pretrained=None, **{'backbone.depth': 34})) == [('model', (
            "the heads' in_channels do not match model.backbone (ResNetV1c "
            'depth=34 gives (64, 128, 256, 512) channels); set '
            'model.decode_head.in_channels=512, '
            'model.auxiliary_head.in_channels=256'))]
    aux = [dict(r50.model.auxiliary_head), dict(
        r50.model.auxiliary_head, in_index=1, in_channels=1024)]
    assert model_errors(edited(r50, auxiliary_head=aux)) == [('model', (
        "the heads' in_channels do not match model.backbone (ResNetV1c "
        'depth=50 gives (256, 512, 1024, 2048) channels); set '
        'model.auxiliary_head[1].in_channels=512'))]


def test_in_index_and_backbone_arguments(r50):
    cfg = edited(r50, **{'auxiliary_head.in_index': -5})
    assert model_errors(cfg) == [('model.auxiliary_head', (
        'in_index=-5, but model.backbone gives 4 feature maps (out_indices='
        '(0, 1, 2, 3)); set model.auxiliary_head.in_index to 0..3'))]
    cfg = edited(r50, **{'backbone.depth': 51})
    assert model_errors(cfg) == [('model.backbone', (
        'depth=51 is not a ResNet depth; choose from 18, 34, 50, 101, 152'))]


def test_necks_and_undeclared_backbones_are_not_judged(r50):
    assert model_errors(edited(r50, neck=dict(type='Neck'), **{
        'backbone.depth': 18, 'pretrained': None})) == []
    assert model_errors(edited(r50, backbone=dict(
        _delete_=True, type='CrossEntropyLoss'))) == []


@pytest.mark.parametrize('model,fix', [
    ({'backbone.type': 'ResNet', 'backbone.depth': 34,
      'pretrained': 'mmcls://resnet34'}, None),
    ({'backbone.type': 'ResNet', 'pretrained': 'torchvision://resnet50'},
     None),
    ({'backbone.type': 'ResNetV1d', 'pretrained': 'mmcls://resnet50_v1d'},
     None),
    ({'pretrained': '/weights/resnet18_v1c.pth'}, None),  # a file: its own
    ({'backbone.type': 'ResNet'},
     "model.pretrained='mmcls://resnet50'"),
    ({'backbone.depth': 34, 'pretrained': None,
      'backbone.init_cfg': dict(type='Pretrained',
                                checkpoint='open-mmlab://resnet18_v1c')},
     'no weights of ResNetV1c-34 are published: set '
     'model.backbone.init_cfg.checkpoint=None'),
])
def test_weights_of_another_type_or_depth_warn(r50, model, fix):
    cfg = edited(r50, **model)
    warnings = pretrained_warnings(cfg)
    if fix is None:
        assert warnings == []
    else:
        [line] = warnings
        assert fix in line and 'leaving layers random' in line
    # they run (as in mmsegmentation): never an error
    assert [e for e in model_errors(cfg) if e[0] != 'model'] == []
