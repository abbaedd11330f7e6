"""PhotoMetricDistortion: each colour step, clipping, the seeded state."""
import numpy as np
import pytest

from emanet.datasets.transforms import PhotoMetricDistortion
from emanet.registry import TRANSFORMS


def make_results(h=32, w=48):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    seg = (np.arange(w)[None].repeat(h, 0) // 8).astype(np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                gt_seg_map=seg, seg_fields=['gt_seg_map'])


@pytest.fixture
def always(monkeypatch):
    """Every coin flip says yes; a range draw gives its upper end."""
    monkeypatch.setattr(
        np.random, 'randint',
        lambda low, high=None: 1 if high is None else high - 1)
    monkeypatch.setattr(np.random, 'uniform', lambda low, high: high)


def test_registered_names():
    assert TRANSFORMS.get('PhotoMetricDistortion') is PhotoMetricDistortion


def test_photometric_distortion():
    np.random.seed(3)
    results = make_results()
    img = results['img'].copy()
    seg = results['gt_seg_map'].copy()
    changed = False
    for _ in range(4):
        out = PhotoMetricDistortion()(dict(results, img=img.copy()))
        assert out['img'].shape == img.shape and out['img'].dtype == np.uint8
        changed |= not np.array_equal(out['img'], img)
        np.testing.assert_array_equal(out['gt_seg_map'], seg)
    assert changed


def test_same_numpy_seed_same_distortion():
    img = make_results()['img']
    outs = []
    for _ in range(2):
        np.random.seed(11)
        outs.append(PhotoMetricDistortion()(dict(img=img.copy()))['img'])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_no_step_drawn_keeps_the_image(monkeypatch):
    monkeypatch.setattr(np.random, 'randint', lambda low, high=None: 0)
    img = make_results()['img']
    out = PhotoMetricDistortion()(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(out, img)


def test_convert_scales_shifts_and_clips():
    img = np.array([[10, 250]], np.uint8)
    out = PhotoMetricDistortion.convert(img, beta=10)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[20, 255]])
    np.testing.assert_array_equal(
        PhotoMetricDistortion.convert(img, beta=-20), [[0, 230]])
    np.testing.assert_array_equal(
        PhotoMetricDistortion.convert(img, alpha=2.), [[20, 255]])


def test_brightness_adds_at_most_the_delta(always):
    img = np.array([[[10, 100, 250]]], np.uint8)
    out = PhotoMetricDistortion(brightness_delta=20).brightness(img)
    np.testing.assert_array_equal(out, [[[30, 120, 255]]])


def test_contrast_scales_by_the_factor(always):
    img = np.array([[[10, 100, 250]]], np.uint8)
    out = PhotoMetricDistortion(contrast_range=(0.5, 1.2)).contrast(img)
    np.testing.assert_array_equal(out, [[[12, 120, 255]]])


def test_zero_saturation_gives_grey(always):
    img = make_results(4, 6)['img']
    out = PhotoMetricDistortion(saturation_range=(0., 0.)).saturation(
        img.copy())
    # No saturation: every channel takes the value (the brightest one).
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], img.max(-1))


def test_hue_shift_turns_colours_but_not_greys(always):
    t = PhotoMetricDistortion(hue_delta=30)  # shift of 29 (OpenCV hue)
    grey = np.full((2, 3, 3), 90, np.uint8)
    np.testing.assert_array_equal(t.hue(grey.copy()), grey)
    red = np.zeros((2, 3, 3), np.uint8)
    red[..., 2] = 200  # BGR
    out = t.hue(red.copy())
    # Red (hue 0) moves towards yellow: green rises, value is kept.
    assert (out[..., 1] > 100).all() and (out[..., 0] == 0).all()
    assert (out.max(-1) == 200).all()


def test_photometric_distortion_repr():
    t = PhotoMetricDistortion()
    assert type(t).__name__ in repr(t)
    assert repr(t) == ('PhotoMetricDistortion(brightness_delta=32, '
                       'contrast_range=(0.5, 1.5), saturation_range=(0.5, '
                       '1.5), hue_delta=18)')
