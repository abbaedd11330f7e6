"""CityscapesDataset and CityscapesDemoDataset: layout, classes, messages,
and the data pipelines of configs/_base_/datasets/cityscapes.py."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from emanet.datasets import CityscapesDataset, CityscapesDemoDataset
from emanet.datasets.demo_data import DEFAULT_ROOT
from emanet.registry import DATASETS, TRANSFORMS
from emanet.utils.errors import MissingDataError

from helpers.tool_loader import REPO

CFG = Path(REPO) / 'configs' / '_base_' / 'datasets' / 'cityscapes.py'
VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')


@pytest.fixture
def val_copy(demo_data_root, tmp_path) -> Path:
    """A writable copy of the demo data set's val split."""
    for sub in ('leftImg8bit/val', 'gtFine/val'):
        shutil.copytree(Path(demo_data_root) / sub, tmp_path / sub)
    return tmp_path


def first_pair(root: Path):
    img = sorted((root / 'leftImg8bit/val').rglob('*.png'))[0]
    label = sorted((root / 'gtFine/val').rglob('*_labelTrainIds.png'))[0]
    return img, label


def test_listing(demo_data_root):
    ds = DATASETS.build(
        dict(
            type='CityscapesDataset',
            data_root=demo_data_root,
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train')))
    assert len(ds) == 4
    info = ds.get_data_info(0)
    assert set(info) == {
        'img_path', 'seg_map_path', 'label_map', 'reduce_zero_label',
        'seg_fields', 'sample_idx'
    }
    assert info['img_path'].endswith(
        'leftImg8bit/train/demotown/demotown_000000_000019_leftImg8bit.png')
    assert info['seg_map_path'].endswith(
        'gtFine/train/demotown/demotown_000000_000019_gtFine_'
        'labelTrainIds.png')
    assert info['label_map'] is None and info['reduce_zero_label'] is False
    assert len(ds.metainfo['classes']) == 19
    assert ds.metainfo['palette'][0] == [128, 64, 128]


def test_class_subset_maps_train_ids(demo_data_root):
    ds = CityscapesDataset(data_root=demo_data_root, data_prefix=VAL,
                           metainfo=dict(classes=('car', 'road')))
    assert ds.label_map[13] == 0 and ds.label_map[0] == 1
    assert ds.label_map[1] == 255 and len(ds.label_map) == 19
    # The subset keeps the Cityscapes colours of its classes.
    assert ds.metainfo['palette'] == [[0, 0, 142], [128, 64, 128]]
    assert ds.get_data_info(0)['label_map'] == ds.label_map


@pytest.mark.parametrize('make', ['missing', 'empty'])
def test_missing_or_empty_folder(tmp_path, make):
    if make == 'empty':
        (tmp_path / 'leftImg8bit/train').mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as e:
        CityscapesDataset(
            data_root=str(tmp_path),
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'))
    msg = str(e.value)
    assert str(tmp_path / 'leftImg8bit/train') in msg
    assert 'leftImg8bit/{train,val,test}/<city>/' in msg
    assert 'python tools/dataset_converters/cityscapes.py' in msg


def test_layout_hint_without_data_root(tmp_path):
    img_dir = str(tmp_path / 'images')
    with pytest.raises(MissingDataError) as e:
        CityscapesDataset(data_prefix=dict(img_path=img_dir,
                                           seg_map_path=img_dir))
    msg = str(e.value)
    assert msg.startswith(f'image folder {img_dir} does not exist')
    # The converter command names a placeholder root to fill in.
    assert 'DATA_ROOT/leftImg8bit/{train,val,test}/<city>/' in msg
    assert ('python tools/dataset_converters/cityscapes.py DATA_ROOT'
            in msg)


def test_missing_label_file(val_copy):
    img, label = first_pair(val_copy)
    label.unlink()
    with pytest.raises(FileNotFoundError) as e:
        CityscapesDataset(data_root=str(val_copy), data_prefix=VAL)
    msg = str(e.value)
    assert str(img) in msg and str(label) in msg
    assert 'tools/dataset_converters/cityscapes.py' in msg
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, skip_bad_samples=True)
    assert len(ds) == 1 and ds.num_skipped == 1


def test_demo_dataset_reads_generated_data(demo_data_root):
    ds = DATASETS.build(
        dict(type='CityscapesDemoDataset', data_root=demo_data_root,
             data_prefix=VAL))
    assert isinstance(ds, CityscapesDemoDataset) and len(ds) == 2
    assert np.asarray(ds.metainfo['palette']).shape == (19, 3)


def test_demo_dataset_on_missing_folder_says_how_to_generate(tmp_path):
    root = str(tmp_path / 'cityscapes_demo')
    with pytest.raises(MissingDataError) as e:
        DATASETS.build(dict(type='CityscapesDemoDataset', data_root=root,
                            data_prefix=VAL))
    msg = str(e.value)
    assert root in msg and '\n' not in msg
    assert f'python tools/misc/make_demo_data.py --out {root}' in msg
    assert 'tools/train.py' in msg
    assert os.listdir(tmp_path) == []  # nothing written


@pytest.mark.parametrize('data_root', ['unset', None])
def test_demo_dataset_default_root(tmp_path, monkeypatch, data_root):
    monkeypatch.chdir(tmp_path)  # the default root is relative
    kwargs = {} if data_root == 'unset' else dict(data_root=data_root)
    with pytest.raises(MissingDataError) as e:
        CityscapesDemoDataset(data_prefix=VAL, **kwargs)
    assert f'--out {DEFAULT_ROOT}' in str(e.value)
    assert os.listdir(tmp_path) == []


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
    # mmcv's wrapper, found through the parent registry.
    assert TRANSFORMS.get('TestTimeAug') is not None
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
