"""CityscapesDataset listing, errors and bad-sample handling."""
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emanet.datasets import CityscapesDataset, CityscapesDemoDataset
from emanet.registry import DATASETS
from emanet.utils.errors import BadDataError, MissingDataError

VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


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


def test_ann_file_and_lazy_init(demo_data_root):
    ds = CityscapesDataset(
        data_root=demo_data_root,
        data_prefix=VAL,
        ann_file='val.txt',
        lazy_init=True)
    assert not ds._fully_initialized
    assert ds.metainfo['classes'][13] == 'car'
    ds.full_init()
    assert len(ds) == 2
    assert ds.get_data_info(1)['img_path'].endswith(
        'testburg_000000_000038_leftImg8bit.png')


def test_getitem(demo_data_root):
    ds = CityscapesDataset(
        data_root=demo_data_root, data_prefix=VAL, pipeline=PIPELINE,
        test_mode=True)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 256, 512)
    gt = out['data_samples'].gt_sem_seg.data
    assert tuple(gt.shape) == (1, 256, 512)
    assert set(gt.unique().tolist()) <= set(range(19)) | {255}


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


def test_undecodable_image(val_copy):
    img, _ = first_pair(val_copy)
    img.write_bytes(b'not a png')
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE)
    with pytest.raises(BadDataError, match=f'Cannot decode image {img}'):
        ds.prepare_data(0)


def test_undecodable_label(val_copy):
    _, label = first_pair(val_copy)
    label.write_bytes(b'\x89PNG garbage')
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE)
    with pytest.raises(BadDataError, match=f'Cannot decode label map {label}'):
        ds.prepare_data(0)


def test_size_mismatch(val_copy):
    img, label = first_pair(val_copy)
    small = cv2.imread(str(label), 0)[::2, ::2]
    cv2.imwrite(str(label), small)
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE)
    with pytest.raises(BadDataError) as e:
        ds.prepare_data(0)
    msg = str(e.value)
    assert str(label) in msg and str(img) in msg
    assert '256x128' in msg and '512x256' in msg


def test_invalid_label_values(val_copy):
    _, label = first_pair(val_copy)
    seg = cv2.imread(str(label), 0)
    seg[:3, :3] = 26  # a raw label id (car) instead of a train id
    seg[5, 5] = 19
    cv2.imwrite(str(label), seg)
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE)
    with pytest.raises(BadDataError) as e:
        ds.prepare_data(0)
    msg = str(e.value)
    assert str(label) in msg and '[19, 26]' in msg
    for setting in ('num_classes (19)', 'reduce_zero_label (False)',
                    'tools/dataset_converters/cityscapes.py'):
        assert setting in msg


def test_skip_bad_samples_in_training(val_copy):
    img, _ = first_pair(val_copy)
    img.write_bytes(b'broken')
    ds = CityscapesDataset(
        data_root=str(val_copy),
        data_prefix=VAL,
        pipeline=PIPELINE,
        skip_bad_samples=True)
    out = ds[0]  # mmengine draws another sample after a None
    assert out['data_samples'].img_path != str(img)
    assert ds.num_skipped >= 1
    test_ds = CityscapesDataset(
        data_root=str(val_copy),
        data_prefix=VAL,
        pipeline=PIPELINE,
        skip_bad_samples=True,
        test_mode=True)
    with pytest.raises(BadDataError):
        test_ds[0]


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


def test_16bit_labels_are_read_as_stored(val_copy):
    _, label = first_pair(val_copy)
    seg = cv2.imread(str(label), 0)
    clean = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE,
        test_mode=True)[0]['data_samples'].gt_sem_seg.data
    # The same labels stored as a 16-bit PNG load the same.
    cv2.imwrite(str(label), seg.astype(np.uint16))
    assert cv2.imread(str(label), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE,
        test_mode=True)
    assert (ds[0]['data_samples'].gt_sem_seg.data == clean).all()
    # 256 + 13 would be 13 (car) after a uint8 cast: it is an error.
    seg16 = seg.astype(np.uint16)
    seg16[:2, :2] = 256 + 13
    cv2.imwrite(str(label), seg16)
    with pytest.raises(BadDataError) as e:
        ds.prepare_data(0)
    assert str(label) in str(e.value) and '[269]' in str(e.value)
    train = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, pipeline=PIPELINE,
        skip_bad_samples=True)
    assert train.prepare_data(0) is None and train.num_skipped == 1


def test_label_without_image_is_named(val_copy):
    img, label = first_pair(val_copy)
    img.unlink()
    with pytest.raises(MissingDataError) as e:
        CityscapesDataset(data_root=str(val_copy), data_prefix=VAL)
    msg = str(e.value)
    assert msg.startswith('1 of 2 samples have no image file')
    assert f'label {label} expects image {img}' in msg
    ds = CityscapesDataset(
        data_root=str(val_copy), data_prefix=VAL, skip_bad_samples=True)
    assert len(ds) == 1 and ds.num_skipped == 1


def test_ann_file_names_a_missing_image(val_copy, demo_data_root):
    img, _ = first_pair(val_copy)
    shutil.copy(Path(demo_data_root) / 'val.txt', val_copy / 'val.txt')
    img.unlink()
    with pytest.raises(MissingDataError, match=f'expects image {img}'):
        CityscapesDataset(data_root=str(val_copy), data_prefix=VAL,
                          ann_file='val.txt')
