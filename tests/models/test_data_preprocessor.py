"""SegDataPreProcessor: colour order, normalisation, padding, metainfo."""
import pytest
import torch
from mmengine.structures import PixelData

from emanet.models import SegDataPreProcessor
from emanet.structures import SegDataSample

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def make_data(shapes):
    imgs, samples = [], []
    for i, (h, w) in enumerate(shapes):
        img = torch.zeros(3, h, w, dtype=torch.uint8)
        img[0], img[2] = 10 + i, 200  # B, R
        sample = SegDataSample(metainfo=dict(img_shape=(h, w),
                                             ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=torch.ones(1, h, w).long())
        imgs.append(img)
        samples.append(sample)
    return dict(inputs=imgs, data_samples=samples)


def test_training_pads_to_size_and_normalises():
    pre = SegDataPreProcessor(mean=[1, 2, 3], std=[2, 2, 2], bgr_to_rgb=True,
                              size=(8, 12))
    out = pre(make_data([(6, 10), (8, 7)]), training=True)
    x, samples = out['inputs'], out['data_samples']
    assert x.shape == (2, 3, 8, 12) and x.dtype == torch.float32
    # channel 0 is now R (200), normalised with the first mean/std
    assert x[0, 0, 0, 0] == (200 - 1) / 2 and x[0, 2, 0, 0] == (10 - 3) / 2
    assert x[0, 0, 7, 11] == 0  # padding value (after normalisation)
    gt = samples[0].gt_sem_seg.data
    assert gt.shape == (1, 8, 12) and gt[0, 6:].eq(255).all()
    assert gt[0, :6, :10].eq(1).all()
    assert samples[0].pad_shape == (8, 12)
    assert samples[0].padding_size == (0, 2, 0, 2)
    assert samples[1].batch_input_shape == (8, 12)


def test_training_size_divisor():
    pre = SegDataPreProcessor(size_divisor=8)
    out = pre(make_data([(6, 10), (9, 7)]), training=True)
    assert out['inputs'].shape == (2, 3, 16, 16)


def test_testing_pads_only_with_test_cfg():
    data = make_data([(6, 10)])
    out = SegDataPreProcessor(size=(8, 12))(data, training=False)
    assert out['inputs'].shape == (1, 3, 6, 10)
    pre = SegDataPreProcessor(test_cfg=dict(size_divisor=4))
    out = pre(make_data([(6, 10)]), training=False)
    assert out['inputs'].shape == (1, 3, 8, 12)
    sample = out['data_samples'][0]
    assert sample.padding_size == (0, 2, 0, 2)
    assert sample.img_shape == (6, 10)  # pipeline value kept
