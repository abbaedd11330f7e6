"""Same weights, same outputs as mmsegmentation 1.2.2.

The fixtures come from ``tests/data/make_mmseg_reference.py`` (run with
mmsegmentation installed); these tests only need emanet. mmseg's outputs
are stored in float64, where every CPU gives the same numbers, and are met
twice here:

- float64: our model in float64 equals mmseg's to 1e-10 of the logit scale
  (the same operations in the same order; measured 0 on AVX2 and AVX-512).
- float32: our model as it runs is within 1e-5 of the logit scale. float32
  keeps 24 bits (6e-8); the ~60 layers and the EM softmax grow that to about
  1e-6 of the scale (4e-4 of logits up to 363 here, measured on AVX2 and
  AVX-512 kernels alike), so 1e-5 leaves a 10x margin for other CPUs and
  still fails on any real difference (a wrong op moves logits by O(1)).
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

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

DATA = osp.join(osp.dirname(osp.dirname(__file__)), 'data')
CONFIGS = osp.join(osp.dirname(DATA), '..', 'configs', 'emanet')


@pytest.fixture(scope='module')
def ref():
    return torch.load(osp.join(DATA, 'mmseg_reference_tiny.pth'))


@pytest.fixture(scope='module')
def full_keys():
    with gzip.open(osp.join(DATA, 'mmseg_reference_keys.json.gz'), 'rt') as f:
        return json.load(f)


FLOAT_TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = pytest.mark.parametrize('dtype', [torch.float64, torch.float32],
                                 ids=['float64', 'float32'])


def build_tiny(ref, dtype: torch.dtype):
    model = MODELS.build(copy.deepcopy(ref['config']))
    model.load_state_dict(ref['state_dict'], strict=True)
    return model.to(dtype)


def assert_matches(ours: torch.Tensor, expected: torch.Tensor,
                   dtype: torch.dtype) -> None:
    """``ours`` within the dtype's share of the reference's largest value."""
    atol = FLOAT_TOLERANCE[dtype] * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(ours.double(), expected.double(), atol=atol,
                               rtol=0)


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


def preprocess(model, ref, train: bool, dtype: torch.dtype) -> dict:
    data = model.data_preprocessor(
        dict(inputs=list(ref['imgs']), data_samples=make_samples(ref, train)),
        train)
    data['inputs'] = data['inputs'].to(dtype)
    return data


def predict_logits(model, ref, dtype):
    data = preprocess(model, ref, False, dtype)
    with torch.no_grad():
        preds = model(**data, mode='predict')
    assert preds[0].pred_sem_seg.shape == tuple(ref['ori_shape'])
    logits = torch.stack([p.seg_logits.data for p in preds])
    assert logits.dtype == dtype
    return logits, data


@DTYPES
def test_whole_and_tensor_logits_match_mmseg(ref, dtype):
    model = build_tiny(ref, dtype).eval()
    logits, data = predict_logits(model, ref, dtype)
    assert_matches(logits, ref['whole_seg_logits'], dtype)
    with torch.no_grad():
        raw = model(data['inputs'], mode='tensor')
    assert_matches(raw, ref['tensor_logits'], dtype)


@DTYPES
@pytest.mark.parametrize('group', [1, 3])
def test_slide_logits_match_mmseg(ref, group, dtype):
    model = build_tiny(ref, dtype).eval()
    model.test_cfg = dict(ref['slide_test_cfg'], slide_batch_size=group)
    logits, _ = predict_logits(model, ref, dtype)
    assert_matches(logits, ref['slide_seg_logits'], dtype)


@DTYPES
def test_losses_and_bases_update_match_mmseg(ref, dtype):
    model = build_tiny(ref, dtype).train()
    losses = model(**preprocess(model, ref, True, dtype), mode='loss')
    assert set(losses) == set(ref['losses'])
    for name, value in ref['losses'].items():
        ours = losses[name].detach().reshape(-1)[0]
        if 'acc' in name:  # a percentage of pixels, computed in float32
            assert_matches(ours, value, torch.float32)
        else:
            assert_matches(ours, value, dtype)
    assert_matches(model.decode_head.ema_module.bases,
                   ref['bases_after_train'], dtype)


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
