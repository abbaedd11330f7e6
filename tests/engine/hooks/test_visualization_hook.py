"""SegVisualizationHook: overlay files, interval, opacity, off switch."""
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmengine.structures import PixelData

from emanet.engine.hooks import SegVisualizationHook
from emanet.registry import HOOKS
from emanet.structures import SegDataSample
from emanet.visualization import SegLocalVisualizer

CLASSES = ['a', 'b', 'c']
PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def _sample(label: np.ndarray, field: str = 'pred_sem_seg', **meta):
    sample = SegDataSample(metainfo=meta)
    setattr(sample, field, PixelData(data=torch.from_numpy(label)[None]))
    return sample


def _image(tmp_path, name='frame_leftImg8bit.png') -> tuple:
    """A random 6x8 image written as ``name``; returns (RGB array, path)."""
    img = np.random.RandomState(0).randint(0, 255, (6, 8, 3), np.uint8)
    img_path = str(tmp_path / name)
    cv2.imwrite(img_path, img)
    return img[..., ::-1], img_path


def _record_calls(monkeypatch, visualizer) -> list:
    """Keep the arguments of each add_datasample call (drawing still
    happens)."""
    calls = []
    real = visualizer.add_datasample

    def spy(name, image, **kwargs):
        calls.append(dict(kwargs, name=name))
        return real(name, image, **kwargs)

    monkeypatch.setattr(visualizer, 'add_datasample', spy)
    return calls


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


def test_without_out_dir_every_interval_th_batch_is_drawn(tmp_path,
                                                          monkeypatch):
    vis = SegLocalVisualizer.get_instance('vis_interval', classes=CLASSES,
                                          palette=PALETTE)
    calls = _record_calls(monkeypatch, vis)
    _, img_path = _image(tmp_path)
    outputs = [_sample(np.ones((6, 8), dtype=np.int64), img_path=img_path)]
    hook = SegVisualizationHook(draw=True, interval=3)
    for batch_idx in range(6):
        hook.after_val_iter(SimpleNamespace(iter=7), batch_idx, {}, outputs)
    # Batches 2 and 5 (the 3rd and the 6th), to the storage backends.
    assert [c['name'] for c in calls] == ['val_frame_leftImg8bit'] * 2
    assert all(c['out_file'] is None and c['step'] == 7 for c in calls)
    assert all(c['draw_gt'] is False for c in calls)


def test_with_out_dir_every_batch_is_written(tmp_path):
    SegLocalVisualizer.get_instance('vis_every', classes=CLASSES,
                                    palette=PALETTE)
    hook = SegVisualizationHook(draw=True, interval=50,
                                out_dir=str(tmp_path / 'show'))
    for i in range(3):
        _, img_path = _image(tmp_path, f'f{i}.png')
        outputs = [_sample(np.ones((6, 8), dtype=np.int64),
                           img_path=img_path)]
        hook.after_test_iter(SimpleNamespace(iter=0), i, {}, outputs)
    for i in range(3):
        assert osp.isfile(tmp_path / 'show' / f'f{i}.png')


def test_opacity_and_draw_gt(tmp_path):
    vis = SegLocalVisualizer.get_instance('vis_opacity', classes=CLASSES,
                                          palette=PALETTE)
    img, img_path = _image(tmp_path)
    sample = _sample(np.zeros((6, 8), dtype=np.int64), 'gt_sem_seg',
                     img_path=img_path)
    sample.pred_sem_seg = PixelData(
        data=torch.full((1, 6, 8), 2, dtype=torch.int64))
    hook = SegVisualizationHook(draw=True, out_dir=str(tmp_path / 'show'),
                                draw_gt=True, opacity=0.5)
    hook.after_test_iter(SimpleNamespace(iter=0), 0, {}, [sample])
    assert vis.alpha == 0.5
    out = cv2.imread(str(tmp_path / 'show' / 'frame_leftImg8bit.png'))
    out = out[..., ::-1]  # BGR -> RGB
    assert out.shape == (6, 16, 3)  # gt left of the prediction
    np.testing.assert_allclose(out[:, :8], img * 0.5 + [127.5, 0, 0],
                               atol=1)
    np.testing.assert_allclose(out[:, 8:], img * 0.5 + [0, 0, 127.5],
                               atol=1)
