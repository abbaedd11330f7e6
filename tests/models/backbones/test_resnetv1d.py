"""ResNetV1d: mmsegmentation's keys and outputs for the same weights.

``tests/data/mmseg_reference_resnetv1d.pth`` comes from
``tests/data/make_mmseg_reference.py`` (run with mmsegmentation 1.2.2):
tiny V1d backbones with random weights, an odd-sized input and their
outputs in float64, plus the state-dict layout of the full ResNetV1d-50/101
D8 backbones. Tolerances as in ``tests/models/test_mmseg_compat.py``:
float64 meets the reference to 1e-10 of the output scale (the same
operations in the same order), float32 to 1e-5 (24-bit rounding through
about 50 layers stays near 1e-6; a wrong pool or stride moves outputs by
O(1)).
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn

from emanet.models.backbones import ResNet, ResNetV1c, ResNetV1d
from emanet.registry import MODELS

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'data')
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


@pytest.fixture(scope='module')
def ref():
    return torch.load(osp.join(DATA, 'mmseg_reference_resnetv1d.pth'))


def build(cfg: dict) -> ResNetV1d:
    return MODELS.build(copy.deepcopy(cfg))


# Train mode normalises with the statistics of a tiny batch (60 values a
# channel in the last stages), which divides float32 rounding by small
# standard deviations: float64 alone shows there that the operations are
# mmsegmentation's.
@pytest.mark.parametrize('mode,dtype', [
    ('eval', torch.float64), ('eval', torch.float32),
    ('train', torch.float64)], ids=['eval-float64', 'eval-float32',
                                    'train-float64'])
@pytest.mark.parametrize('name', ['d8_bottleneck', 'strided_basic'])
def test_outputs_match_mmseg_for_its_weights(ref, name, mode, dtype):
    entry = ref['tiny'][name]
    model = build(entry['config'])
    assert type(model) is ResNetV1d
    model.load_state_dict(entry['state_dict'], strict=True)
    model.to(dtype).train(mode == 'train')
    with torch.no_grad():
        outs = model(ref['imgs'].to(dtype))
    assert len(outs) == len(entry[mode])
    for ours, expected in zip(outs, entry[mode]):
        assert ours.dtype == dtype and ours.shape == expected.shape
        atol = TOLERANCE[dtype] * max(1.0, expected.abs().max().item())
        torch.testing.assert_close(ours.double(), expected, atol=atol,
                                   rtol=0)


@pytest.mark.parametrize('depth', [50, 101])
def test_full_d8_state_dict_layout_is_mmsegs(ref, depth):
    model = ResNetV1d(depth=depth, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), contract_dilation=True)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == ref['full'][depth]
    # An mmsegmentation state dict of this layout loads strictly.
    model.load_state_dict({k: torch.zeros(s) for k, s in ref['full'][depth]},
                          strict=True)


def test_shortcuts_pool_then_convolve():
    model = ResNetV1d(depth=50, stem_channels=8, base_channels=2,
                      strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
    pool, conv, _ = model.layer2[0].downsample
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2
    assert pool.ceil_mode and not pool.count_include_pad
    assert conv.stride == (1, 1)
    # Stride-1 stages keep an identity pool so that keys match mmseg.
    assert model.layer3[0].downsample[0].kernel_size == 1
    assert len(model.stem) == 9
    v1c = ResNetV1c(depth=50, stem_channels=8, base_channels=2)
    assert v1c.layer2[0].downsample[0].stride == (2, 2)


@pytest.mark.parametrize('cls', [ResNet, ResNetV1c, ResNetV1d])
@pytest.mark.parametrize('kwargs', [
    dict(depth=18), dict(depth=50, out_indices=(1, 3)),
    dict(depth=101, base_channels=8, num_stages=3, strides=(1, 2, 2),
         dilations=(1, 1, 1), out_indices=(2, 0)),
])
def test_declared_out_channels_are_the_built_ones(cls, kwargs):
    declared = cls.out_channels_for(**kwargs)
    model = cls(stem_channels=8, **kwargs).eval()
    with torch.no_grad():
        outs = model(torch.zeros(1, 3, 32, 32))
    assert declared == tuple(o.shape[1] for o in outs)


@pytest.mark.parametrize('kwargs,words', [
    (dict(depth=51), 'depth=51 is not a ResNet depth'),
    (dict(depth=50, num_stages=3), 'need num_stages=3 entries'),
    (dict(depth=50, out_indices=(0, 4)), 'out_indices=(0, 4) must name'),
])
def test_declared_channels_refuse_what_the_constructor_refuses(kwargs,
                                                               words):
    with pytest.raises(ValueError, match=words.replace('(', r'\(')
                       .replace(')', r'\)')):
        ResNetV1d.out_channels_for(**kwargs)
    with pytest.raises((KeyError, ValueError)):
        ResNetV1d(**kwargs)
