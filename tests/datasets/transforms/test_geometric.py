"""RandomCrop (windows, cat_max_ratio) and mmcv's geometric transforms."""
import numpy as np
import pytest

from emanet.datasets.transforms import RandomCrop
from emanet.registry import TRANSFORMS


def make_results(h=32, w=48, seg=None):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    if seg is None:
        seg = (np.arange(w)[None].repeat(h, 0) // 8).astype(np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                gt_seg_map=seg, seg_fields=['gt_seg_map'])


def test_registered_names():
    # RandomCrop is ours; the others are mmcv's, found through the parent.
    for name in ('RandomCrop', 'Resize', 'RandomResize', 'RandomFlip'):
        assert TRANSFORMS.get(name) is not None, name
    assert TRANSFORMS.get('RandomCrop') is RandomCrop


def test_random_crop_shapes():
    out = RandomCrop(crop_size=(16, 24))(make_results())
    assert out['img'].shape == (16, 24, 3)
    assert out['gt_seg_map'].shape == (16, 24)
    assert out['img_shape'] == (16, 24)
    # Smaller image than the crop: the whole side is kept.
    assert RandomCrop(64)(make_results())['img'].shape == (32, 48, 3)


def test_random_crop_cuts_image_and_labels_at_the_same_window(monkeypatch):
    results = make_results()
    img, seg = results['img'].copy(), results['gt_seg_map'].copy()
    aux = np.arange(32 * 48, dtype=np.int32).reshape(32, 48)
    results.update(aux_map=aux, seg_fields=['gt_seg_map', 'aux_map'],
                   other=aux)
    monkeypatch.setattr(RandomCrop, '_random_bbox',
                        lambda self, shape: (3, 19, 5, 29))
    out = RandomCrop((16, 24))(results)
    np.testing.assert_array_equal(out['img'], img[3:19, 5:29])
    np.testing.assert_array_equal(out['gt_seg_map'], seg[3:19, 5:29])
    np.testing.assert_array_equal(out['aux_map'], aux[3:19, 5:29])
    # Only the listed seg_fields are label maps to crop.
    assert out['other'].shape == (32, 48)


def test_random_crop_window_stays_inside_the_image():
    np.random.seed(0)
    crop = RandomCrop((8, 8))
    corners = set()
    for _ in range(200):
        y1, y2, x1, x2 = crop.crop_bbox(make_results(h=12, w=10))
        assert 0 <= y1 <= 4 and y2 == y1 + 8
        assert 0 <= x1 <= 2 and x2 == x1 + 8
        corners.add((y1, x1))
    # Every offset of the margin can be drawn, including the last one.
    assert corners == {(y, x) for y in range(5) for x in range(3)}


def test_random_crop_cat_max_ratio(monkeypatch):
    seg = np.zeros((32, 48), np.uint8)
    seg[:, 24:] = 1  # left half class 0, right half class 1
    seg[:, 40:] = 255
    boxes = iter([(0, 16, 0, 16), (0, 16, 4, 20), (0, 16, 16, 32)])
    drawn = []

    def fake(self, shape):
        drawn.append(next(boxes))
        return drawn[-1]

    monkeypatch.setattr(RandomCrop, '_random_bbox', fake)
    out = RandomCrop((16, 16), cat_max_ratio=0.75)(make_results(seg=seg))
    # (0, 16, 0, 16): one class; (4, 20): 75% class 0 is not < 0.75;
    # (16, 32): half and half → accepted.
    assert len(drawn) == 3
    np.testing.assert_array_equal(out['gt_seg_map'], seg[:16, 16:32])


def test_random_crop_retries_ten_times(monkeypatch):
    calls = []
    original = RandomCrop._random_bbox

    def counting(self, shape):
        calls.append(1)
        return original(self, shape)

    monkeypatch.setattr(RandomCrop, '_random_bbox', counting)
    seg = np.zeros((32, 48), np.uint8)
    seg[:, :10] = 255  # ignored pixels do not count as a second class
    RandomCrop(16, cat_max_ratio=0.75)(make_results(seg=seg))
    assert len(calls) == 11  # first draw + 10 retries
    calls.clear()
    RandomCrop(16)(make_results(seg=seg))
    assert len(calls) == 1


def test_random_crop_ignore_index_argument(monkeypatch):
    seg = np.zeros((16, 16), np.uint8)
    seg[:, 12:] = 1
    monkeypatch.setattr(RandomCrop, '_random_bbox',
                        lambda self, shape: (0, 16, 0, 16))
    # Classes 0 and 1 at 75% / 25%: accepted at the first draw ...
    crop = RandomCrop(16, cat_max_ratio=0.8)
    assert crop.crop_bbox(make_results(16, 16, seg)) == (0, 16, 0, 16)
    # ... but with 1 as the ignored label only class 0 is left.
    calls = []
    monkeypatch.setattr(RandomCrop, '_random_bbox',
                        lambda self, shape: calls.append(1) or (0, 16, 0, 16))
    RandomCrop(16, cat_max_ratio=0.8, ignore_index=1)(
        make_results(16, 16, seg))
    assert len(calls) == 11


@pytest.mark.parametrize('size', [0, (8, 0), (8, 8, 8), (-1, 4)])
def test_random_crop_refuses_bad_sizes(size):
    with pytest.raises(ValueError, match='crop_size must be a positive'):
        RandomCrop(size)


def test_flip_and_resize_keep_labels_aligned():
    results = make_results()
    # Encode each pixel's label into the image so alignment is checkable.
    results['img'][..., 0] = results['gt_seg_map'] * 10
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.))
    out = flip(results)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(out['img'][..., 0],
                                  out['gt_seg_map'] * 10)
    assert out['gt_seg_map'][0, 0] == 5
    resize = TRANSFORMS.build(
        dict(type='Resize', scale=(77, 51), keep_ratio=False))
    out = resize(out)
    assert out['gt_seg_map'].shape == (51, 77)
    # Nearest interpolation: no new label values appear.
    assert set(np.unique(out['gt_seg_map'])) <= set(range(6))


def test_vertical_flip_moves_image_and_labels_together():
    results = make_results()
    img, seg = results['img'].copy(), results['gt_seg_map'].copy()
    seg[:4] = 255  # top rows ignored, so a vertical flip shows
    results['gt_seg_map'] = seg.copy()
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.,
                                 direction='vertical'))
    out = flip(results)
    assert out['flip'] and out['flip_direction'] == 'vertical'
    np.testing.assert_array_equal(out['img'], img[::-1])
    np.testing.assert_array_equal(out['gt_seg_map'], seg[::-1])
    assert (out['gt_seg_map'][-4:] == 255).all()


def test_flip_with_prob_zero_changes_nothing():
    results = make_results()
    img, seg = results['img'].copy(), results['gt_seg_map'].copy()
    out = TRANSFORMS.build(dict(type='RandomFlip', prob=0.))(results)
    assert out['flip'] is False
    np.testing.assert_array_equal(out['img'], img)
    np.testing.assert_array_equal(out['gt_seg_map'], seg)


def test_random_crop_repr():
    t = RandomCrop(8, 0.5)
    assert type(t).__name__ in repr(t)
    assert repr(t) == ('RandomCrop(crop_size=(8, 8), cat_max_ratio=0.5, '
                       'ignore_index=255)')
