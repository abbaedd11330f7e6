"""colorize and SegLocalVisualizer: colours, blending, panels, files."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.registry import VISUALIZERS
from emanet.structures import SegDataSample
from emanet.visualization import SegLocalVisualizer, colorize

CLASSES = ['a', 'b', 'c']
PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def _sample(label: np.ndarray, field: str = 'pred_sem_seg', **meta):
    sample = SegDataSample(metainfo=meta)
    setattr(sample, field, PixelData(data=torch.from_numpy(label)[None]))
    return sample


def test_colorize_maps_classes_and_blackens_ignore():
    label = np.array([[0, 1], [2, 255]])
    out = colorize(label, PALETTE)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[1, 0].tolist() == [0, 0, 255]
    assert out[1, 1].tolist() == [0, 0, 0]


def test_overlay_blends_with_alpha_and_keeps_ignored_pixels():
    vis = SegLocalVisualizer(name='vis_blend', classes=CLASSES,
                             palette=PALETTE, alpha=0.5)
    image = np.full((4, 6, 3), 100, dtype=np.uint8)
    label = np.zeros((4, 6), dtype=np.int64)
    label[:, 3:] = 255  # ignored half
    label[0, 0] = 1
    out = vis.draw_sem_seg(image, _sample(label).pred_sem_seg)
    assert out.shape == image.shape
    # 100 * 0.5 + colour * 0.5, truncated to uint8
    assert out[1, 1].tolist() == [177, 50, 50]
    assert out[0, 0].tolist() == [50, 177, 50]
    assert (out[:, 3:] == 100).all()


def test_overlay_of_a_tall_image_is_blended_strip_by_strip_alike():
    from emanet.visualization.local_visualizer import BLEND_ROWS
    rng = np.random.default_rng(0)
    height = 2 * BLEND_ROWS + 7
    image = rng.integers(0, 256, (height, 9, 3), dtype=np.uint8)
    label = rng.integers(-2, 5, (height, 9))  # classes, -2, -1, 3, 4
    vis = SegLocalVisualizer(name='vis_strips', classes=CLASSES,
                             palette=PALETTE, alpha=0.3)
    out = vis.draw_sem_seg(image, _sample(label).pred_sem_seg)
    # the whole image at once, as the formula in the class docstring
    valid = (label >= 0) & (label < 3)
    color = np.asarray(PALETTE)[np.clip(label, 0, 2)]
    blended = image * 0.7 + color * 0.3
    expected = np.where(valid[..., None], blended, image).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_add_datasample_writes_gt_left_of_prediction(tmp_path):
    vis = VISUALIZERS.build(dict(type='SegLocalVisualizer', name='vis_file',
                                 classes=CLASSES, palette=PALETTE))
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    sample = _sample(np.zeros((8, 10), dtype=np.int64), 'gt_sem_seg')
    sample.pred_sem_seg = PixelData(
        data=torch.full((1, 8, 10), 2, dtype=torch.int64))
    out_file = str(tmp_path / 'x.png')
    drawn = vis.add_datasample('x', image, sample, out_file=out_file)
    assert drawn.shape == (8, 20, 3)
    written = cv2.imread(out_file)[..., ::-1]  # BGR -> RGB
    np.testing.assert_array_equal(written, drawn)
    assert drawn[0, 0].tolist() == [204, 0, 0]  # gt class 0, alpha 0.8
    assert drawn[0, 10].tolist() == [0, 0, 204]  # pred class 2


def test_default_palette_is_cityscapes():
    from emanet.datasets import CityscapesDataset
    vis = SegLocalVisualizer(name='vis_default')
    assert vis.dataset_meta['classes'] == list(
        CityscapesDataset.METAINFO['classes'])
    assert len(vis.dataset_meta['palette']) == 19


def test_mismatched_classes_and_palette_are_refused():
    with pytest.raises(ValueError, match='2 classes but 3 palette'):
        SegLocalVisualizer(name='vis_bad', classes=['a', 'b'],
                           palette=PALETTE)


def test_colorize_folds_out_of_range_labels_to_black():
    out = colorize(np.array([[256, 300], [3, 255]]), PALETTE)
    assert (out == 0).all()


def test_colorize_draws_negative_labels_as_ignore_not_class_0():
    out = colorize(np.array([[-1, -256], [0, 2]]), PALETTE)
    assert out[0].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert out[1].tolist() == [[255, 0, 0], [0, 0, 255]]


@pytest.mark.parametrize('alpha', [0, -0.1, 1.5])
def test_alpha_outside_zero_one_is_refused(alpha):
    with pytest.raises(ValueError, match=r'alpha \(opacity\) must be in'):
        SegLocalVisualizer(name=f'vis_alpha_{alpha}', classes=CLASSES,
                           palette=PALETTE, alpha=alpha)


def test_label_of_another_size_is_refused():
    vis = SegLocalVisualizer(name='vis_size', classes=CLASSES,
                             palette=PALETTE)
    label = _sample(np.zeros((3, 5), dtype=np.int64)).pred_sem_seg
    with pytest.raises(ValueError, match=r'\(3, 5\) does not match the '
                       r'image of shape \(4, 5\)'):
        vis.draw_sem_seg(np.zeros((4, 5, 3), np.uint8), label)


def test_add_datasample_panels_follow_the_draw_flags():
    vis = SegLocalVisualizer(name='vis_flags', classes=CLASSES,
                             palette=PALETTE, alpha=1.)
    image = np.full((2, 3, 3), 7, dtype=np.uint8)
    sample = _sample(np.zeros((2, 3), dtype=np.int64), 'gt_sem_seg')
    sample.pred_sem_seg = PixelData(
        data=torch.ones((1, 2, 3), dtype=torch.int64))
    gt = vis.add_datasample('gt', image, sample, draw_pred=False)
    assert gt.shape == (2, 3, 3) and gt[0, 0].tolist() == [255, 0, 0]
    pred = vis.add_datasample('pred', image, sample, draw_gt=False)
    assert pred.shape == (2, 3, 3) and pred[0, 0].tolist() == [0, 255, 0]
    # Nothing to draw: the image itself.
    np.testing.assert_array_equal(vis.add_datasample('none', image), image)


def test_with_labels_writes_class_names_over_the_overlay():
    vis = SegLocalVisualizer(name='vis_names', classes=CLASSES,
                             palette=PALETTE, alpha=1.)
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    label = _sample(np.full((40, 60), 2, dtype=np.int64)).pred_sem_seg
    plain = vis.draw_sem_seg(image, label)
    named = vis.draw_sem_seg(image, label, with_labels=True)
    assert (plain == [0, 0, 255]).all()
    # White text at some pixels; the rest stays the class colour.
    changed = (named != plain).any(-1)
    assert 0 < changed.sum() < changed.size
    assert (named[~changed] == [0, 0, 255]).all()
