"""SegLocalVisualizer overlays and SegVisualizationHook output files."""
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.engine.hooks import SegVisualizationHook
from emanet.registry import HOOKS, VISUALIZERS
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


def test_hook_writes_one_overlay_per_image(tmp_path):
    SegLocalVisualizer.get_instance(
        'vis_hook', classes=CLASSES, palette=PALETTE)
    img = np.random.RandomState(0).randint(0, 255, (6, 8, 3), np.uint8)
    img_path = str(tmp_path / 'frame_leftImg8bit.png')
    cv2.imwrite(img_path, img)
    hook = HOOKS.build(dict(type='SegVisualizationHook', draw=True,
                            out_dir=str(tmp_path / 'show'), interval=50))
    assert isinstance(hook, SegVisualizationHook)
    label = np.ones((6, 8), dtype=np.int64)
    outputs = [_sample(label, img_path=img_path)]
    hook.after_test_iter(SimpleNamespace(iter=0), 3, {}, outputs)
    out = cv2.imread(str(tmp_path / 'show' / 'frame_leftImg8bit.png'))
    assert out.shape == (6, 8, 3)
    # prediction only (no gt panel), green blended over the image
    expected = (img[..., ::-1] * 0.2 + np.array([0, 255, 0]) * 0.8)
    np.testing.assert_allclose(out[..., ::-1], expected, atol=1)


def test_hook_draws_nothing_when_off(tmp_path):
    SegLocalVisualizer.get_instance('vis_off', classes=CLASSES,
                                    palette=PALETTE)
    hook = SegVisualizationHook(draw=False, out_dir=str(tmp_path / 'show'))
    outputs = [_sample(np.ones((2, 2), dtype=np.int64),
                       img_path='missing.png')]
    hook.after_test_iter(SimpleNamespace(iter=0), 0, {}, outputs)
    assert not osp.exists(tmp_path / 'show')
