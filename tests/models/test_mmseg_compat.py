"""Same weights, same outputs as mmsegmentation 1.2.2.

The fixtures come from ``tests/data/make_mmseg_reference.py`` (run with
mmsegmentation installed); these tests only need emanet.
"""
import copy
import gzip
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

from emanet.registry import MODELS
from emanet.structures import SegDataSample

DATA = osp.join(osp.dirname(osp.dirname(__file__)), 'data')
CONFIGS = osp.join(osp.dirname(DATA), '..', 'configs', 'emanet')


@pytest.fixture(scope='module')
def ref():
    return torch.load(osp.join(DATA, 'mmseg_reference_tiny.pth'))


@pytest.fixture(scope='module')
def full_keys():
    with gzip.open(osp.join(DATA, 'mmseg_reference_keys.json.gz'), 'rt') as f:
        return json.load(f)


def build_tiny(ref):
    model = MODELS.build(copy.deepcopy(ref['config']))
    model.load_state_dict(ref['state_dict'], strict=True)
    return model


def make_samples(ref, train: bool):
    samples = []
    shape = tuple(ref['imgs'].shape[2:])
    for i in range(2):
        meta = dict(img_shape=shape, ori_shape=shape)
        if not train:  # the second image was flipped, both were resized
            meta = dict(img_shape=shape, ori_shape=tuple(ref['ori_shape']),
                        flip=i == 1, flip_direction='horizontal')
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=ref['labels'][i].clone())
        samples.append(sample)
    return samples


def predict_logits(model, ref):
    data = model.data_preprocessor(
        dict(inputs=list(ref['imgs']), data_samples=make_samples(ref, False)),
        False)
    with torch.no_grad():
        preds = model(**data, mode='predict')
    assert preds[0].pred_sem_seg.shape == tuple(ref['ori_shape'])
    return torch.stack([p.seg_logits.data for p in preds]), data


def test_whole_and_tensor_logits_match_mmseg(ref):
    model = build_tiny(ref).eval()
    logits, data = predict_logits(model, ref)
    torch.testing.assert_close(logits, ref['whole_seg_logits'], atol=1e-5,
                               rtol=1e-5)
    with torch.no_grad():
        raw = model(data['inputs'], mode='tensor')
    torch.testing.assert_close(raw, ref['tensor_logits'], atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize('group', [1, 3])
def test_slide_logits_match_mmseg(ref, group):
    model = build_tiny(ref).eval()
    model.test_cfg = dict(ref['slide_test_cfg'], slide_batch_size=group)
    logits, _ = predict_logits(model, ref)
    torch.testing.assert_close(logits, ref['slide_seg_logits'], atol=1e-5,
                               rtol=1e-5)


def test_losses_and_bases_update_match_mmseg(ref):
    model = build_tiny(ref).train()
    data = model.data_preprocessor(
        dict(inputs=list(ref['imgs']), data_samples=make_samples(ref, True)),
        True)
    losses = model(**data, mode='loss')
    assert set(losses) == set(ref['losses'])
    for name, value in ref['losses'].items():
        torch.testing.assert_close(losses[name].detach().reshape(-1)[0],
                                   value, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.decode_head.ema_module.bases,
                               ref['bases_after_train'], atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize('depth,name,num_params', [
    (50, 'r50', 42_349_958), (101, 'r101', 61_342_086)])
def test_full_models_match_mmseg_layout(full_keys, depth, name, num_params):
    cfg = Config.fromfile(osp.join(
        CONFIGS, f'emanet_r{depth}-d8_4xb2-80k_cityscapes-512x1024.py'))
    cfg.model.pretrained = None
    model = MODELS.build(cfg.model)
    expected = full_keys[name]
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == expected['keys']
    count = sum(p.numel() for p in model.parameters())
    assert count == expected['num_params'] == num_params
    frozen = sorted(n for n, p in model.named_parameters()
                    if not p.requires_grad)
    assert frozen == expected['frozen'] == [
        'decode_head.ema_mid_conv.conv.bias',
        'decode_head.ema_mid_conv.conv.weight']
