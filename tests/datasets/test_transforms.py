"""Transforms: keys, shapes, cat_max_ratio, flips, the config pipelines."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from emanet.datasets import CityscapesDataset
from emanet.datasets.transforms import (
    LoadAnnotations,
    PackSegInputs,
    PhotoMetricDistortion,
    RandomCrop,
)
from emanet.registry import TRANSFORMS
from emanet.structures import SegDataSample

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / 'configs' / '_base_' / 'datasets' / 'cityscapes.py'
VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')


def make_results(h=32, w=48, seg=None):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    if seg is None:
        seg = (np.arange(w)[None].repeat(h, 0) // 8).astype(np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                gt_seg_map=seg, seg_fields=['gt_seg_map'])


def val_info(root, i=0):
    ds = CityscapesDataset(data_root=root, data_prefix=VAL)
    info = ds.get_data_info(i)
    info['num_classes'] = 19
    return info


def test_registered_names():
    for name in ('LoadImageFromFile', 'LoadAnnotations', 'RandomCrop',
                 'PhotoMetricDistortion', 'PackSegInputs', 'Resize',
                 'RandomResize', 'RandomFlip', 'TestTimeAug'):
        assert TRANSFORMS.get(name) is not None, name
    assert TRANSFORMS.get('LoadAnnotations') is LoadAnnotations


def test_load_annotations(demo_data_root):
    info = val_info(demo_data_root)
    out = LoadAnnotations()(dict(info, ori_shape=(256, 512)))
    seg = out['gt_seg_map']
    assert seg.dtype == np.uint8 and seg.shape == (256, 512)
    assert out['seg_fields'] == ['gt_seg_map']
    assert 0 in seg and 255 in seg

    info = val_info(demo_data_root)
    info['num_classes'] = None
    reduced = LoadAnnotations(reduce_zero_label=True)(info)['gt_seg_map']
    assert (reduced[seg == 0] == 255).all()
    assert (reduced[seg == 255] == 255).all()
    assert (reduced[seg == 2] == 1).all()

    info = val_info(demo_data_root)
    info['label_map'] = {0: 1, 1: 0}
    swapped = LoadAnnotations()(info)['gt_seg_map']
    assert (swapped[seg == 0] == 1).all() and (swapped[seg == 1] == 0).all()


def test_random_crop_shapes():
    out = RandomCrop(crop_size=(16, 24))(make_results())
    assert out['img'].shape == (16, 24, 3)
    assert out['gt_seg_map'].shape == (16, 24)
    assert out['img_shape'] == (16, 24)
    # Smaller image than the crop: the whole side is kept.
    assert RandomCrop(64)(make_results())['img'].shape == (32, 48, 3)


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


def test_pack_seg_inputs():
    results = make_results()
    results.update(img_path='a.png', seg_map_path='a_label.png',
                   scale_factor=(1.0, 1.0), flip=False, flip_direction=None,
                   reduce_zero_label=False, extra='x')
    out = PackSegInputs()(results)
    assert set(out) == {'inputs', 'data_samples'}
    assert out['inputs'].shape == (3, 32, 48)
    assert out['inputs'].dtype == torch.uint8
    np.testing.assert_array_equal(out['inputs'].permute(1, 2, 0).numpy(),
                                  results['img'])
    sample = out['data_samples']
    assert isinstance(sample, SegDataSample)
    assert sample.gt_sem_seg.data.shape == (1, 32, 48)
    assert sample.gt_sem_seg.data.dtype == torch.long
    assert set(sample.metainfo) == {
        'img_path', 'seg_map_path', 'ori_shape', 'img_shape',
        'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label'
    }


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


def test_config_train_and_test_pipelines(demo_data_root):
    cfg = Config.fromfile(str(CFG))
    np.random.seed(0)
    ds = CityscapesDataset(
        data_root=demo_data_root, data_prefix=VAL,
        pipeline=cfg.train_pipeline)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 512, 1024)
    assert tuple(out['data_samples'].gt_sem_seg.data.shape) == (1, 512, 1024)
    ds = CityscapesDataset(
        data_root=demo_data_root, data_prefix=VAL, test_mode=True,
        pipeline=cfg.test_pipeline)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 1024, 2048)
    sample = out['data_samples']
    assert tuple(sample.gt_sem_seg.data.shape) == (1, 256, 512)
    assert sample.ori_shape == (256, 512)


def test_tta_pipeline_gives_12_views(demo_data_root):
    cfg = Config.fromfile(str(CFG))
    ds = CityscapesDataset(
        data_root=demo_data_root, data_prefix=VAL, test_mode=True,
        pipeline=cfg.tta_pipeline)
    out = ds[0]
    assert len(out['inputs']) == 12 and len(out['data_samples']) == 12
    shapes = [tuple(x.shape[1:]) for x in out['inputs']]
    expected = [(round(256 * r), round(512 * r))
                for r in cfg.img_ratios for _ in range(2)]
    assert sorted(shapes) == sorted(expected)
    flips = [s.flip for s in out['data_samples']]
    assert flips.count(True) == 6
    for x, s in zip(out['inputs'], out['data_samples']):
        assert s.gt_sem_seg.data.shape == (1, 256, 512)  # original size
        assert s.img_shape == tuple(x.shape[1:])
    # A flipped view is the mirror of its unflipped twin.
    same = [i for i, s in enumerate(out['data_samples'])
            if s.img_shape == (256, 512)]
    a, b = (out['inputs'][i] for i in same)
    assert torch.equal(a, b.flip(-1))
    # Labels are loaded after the flip: every view keeps the original
    # label map, since TTA predictions are flipped back before merging.
    first = out['data_samples'][0].gt_sem_seg.data
    for s in out['data_samples']:
        assert torch.equal(s.gt_sem_seg.data, first)


@pytest.mark.parametrize('bad', [0, 1])
def test_transform_reprs(bad):
    t = [RandomCrop(8, 0.5), PhotoMetricDistortion()][bad]
    assert type(t).__name__ in repr(t)
