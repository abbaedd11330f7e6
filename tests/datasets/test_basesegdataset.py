"""BaseSegDataset: listing, classes and palette, label checks through the
pipeline, and bad-sample handling."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emanet.datasets import BaseSegDataset, CityscapesDataset
from emanet.utils.errors import BadDataError, MissingDataError

VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
PLAIN = dict(img_path='img', seg_map_path='ann')


class ThreeClasses(BaseSegDataset):
    """A data set type with its own classes and palette."""

    METAINFO = dict(classes=('a', 'b', 'c'),
                    palette=[[1, 1, 1], [2, 2, 2], [3, 3, 3]])


@pytest.fixture
def val_copy(demo_data_root, tmp_path) -> Path:
    """A writable copy of the demo data set's val split."""
    for sub in ('leftImg8bit/val', 'gtFine/val'):
        shutil.copytree(Path(demo_data_root) / sub, tmp_path / sub)
    return tmp_path


@pytest.fixture
def plain_root(tmp_path) -> Path:
    """Three 4x6 ``.png`` images with ``_label.png`` maps: ``x<i>`` is all
    class ``i`` but its top-left pixel (255); ``x2`` is in a sub-folder."""
    for i, name in enumerate(['x0', 'x1', 'sub/x2']):
        for folder in ('img', 'ann'):
            (tmp_path / folder / name).parent.mkdir(parents=True,
                                                    exist_ok=True)
        cv2.imwrite(str(tmp_path / 'img' / f'{name}.png'),
                    np.full((4, 6, 3), 10 * i, np.uint8))
        label = np.full((4, 6), i, np.uint8)
        label[0, 0] = 255
        cv2.imwrite(str(tmp_path / 'ann' / f'{name}_label.png'), label)
    return tmp_path


def plain(root: Path, cls=BaseSegDataset, **kwargs):
    return cls(data_root=str(root), data_prefix=PLAIN, img_suffix='.png',
               seg_map_suffix='_label.png', **kwargs)


def first_pair(root: Path):
    img = sorted((root / 'leftImg8bit/val').rglob('*.png'))[0]
    label = sorted((root / 'gtFine/val').rglob('*_labelTrainIds.png'))[0]
    return img, label


def test_scan_lists_pairs_recursively_and_sorted(plain_root):
    ds = plain(plain_root)
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert paths == [str(plain_root / 'img' / f'{n}.png')
                     for n in ('sub/x2', 'x0', 'x1')]
    info = ds.get_data_info(0)
    assert info['seg_map_path'] == str(plain_root / 'ann/sub/x2_label.png')
    assert info['label_map'] is None and info['reduce_zero_label'] is False
    assert info['seg_fields'] == []


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


def test_ann_file_lists_only_its_names(plain_root):
    (plain_root / 'list.txt').write_text('x1\n\n  sub/x2  \n')
    ds = plain(plain_root, ann_file='list.txt')
    assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
        str(plain_root / 'img/x1.png'), str(plain_root / 'img/sub/x2.png')]


def test_missing_ann_file_is_named(plain_root):
    with pytest.raises(MissingDataError) as e:
        plain(plain_root, ann_file='nope.txt')
    assert str(e.value).startswith(
        f'ann_file {plain_root / "nope.txt"} does not exist')


def test_list_sample_names_lists_without_loading(plain_root, tmp_path):
    """The cheap listing of a lazy data set: names only, no pairing."""
    (plain_root / 'ann' / 'x1_label.png').unlink()  # unpaired: not checked
    lazy = plain(plain_root, lazy_init=True)
    assert lazy.list_sample_names() == ['sub/x2', 'x0', 'x1']
    assert not lazy._fully_initialized
    (plain_root / 'list.txt').write_text('x1\n\n  sub/x2  \n')
    listed = plain(plain_root, ann_file='list.txt', lazy_init=True)
    assert listed.list_sample_names() == ['x1', 'sub/x2']
    with pytest.raises(MissingDataError, match='image folder .* does not '
                       'exist'):
        plain(tmp_path / 'none', lazy_init=True).list_sample_names()
    with pytest.raises(MissingDataError, match='ann_file .*nope.txt does '
                       'not exist'):
        plain(plain_root, ann_file='nope.txt',
              lazy_init=True).list_sample_names()


def test_layout_hint_names_the_suffixes(tmp_path):
    with pytest.raises(MissingDataError) as e:
        plain(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f'image folder {tmp_path / "img"} does not exist')
    assert (f'expected images {tmp_path / "img"}/<sub-folders>/xxx.png and'
            f' labels {tmp_path / "ann"}/<sub-folders>/xxx_label.png') in msg


def test_missing_label_gives_the_generic_advice(plain_root):
    (plain_root / 'ann/x0_label.png').unlink()
    with pytest.raises(MissingDataError) as e:
        plain(plain_root)
    msg = str(e.value)
    assert msg.startswith('1 of 3 samples have no label file')
    assert f'image {plain_root / "img/x0.png"} expects label' in msg
    assert 'Create the *_label.png files or fix data_prefix.' in msg


def test_getitem(demo_data_root):
    ds = CityscapesDataset(
        data_root=demo_data_root, data_prefix=VAL, pipeline=PIPELINE,
        test_mode=True)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 256, 512)
    gt = out['data_samples'].gt_sem_seg.data
    assert tuple(gt.shape) == (1, 256, 512)
    assert set(gt.unique().tolist()) <= set(range(19)) | {255}


def test_pipeline_gets_num_classes_and_the_listing_keys(plain_root):
    seen = []
    ds = plain(plain_root, cls=ThreeClasses, pipeline=[seen.append])
    ds.prepare_data(1)
    assert seen[0]['num_classes'] == 3
    assert seen[0]['img_path'] == str(plain_root / 'img/x0.png')
    # Without classes there is nothing to check label values against.
    seen.clear()
    plain(plain_root, pipeline=[seen.append]).prepare_data(0)
    assert 'num_classes' not in seen[0]


def test_test_mode_needs_classes(plain_root):
    with pytest.raises(ValueError, match='metainfo `classes` must be set'):
        plain(plain_root, test_mode=True)
    assert len(plain(plain_root, cls=ThreeClasses, test_mode=True)) == 3


def test_class_subset_label_map_and_palette(plain_root):
    ds = plain(plain_root, cls=ThreeClasses,
               metainfo=dict(classes=('c', 'a')), pipeline=PIPELINE)
    assert ds.label_map == {0: 1, 1: 255, 2: 0}
    assert ds.metainfo['palette'] == [[3, 3, 3], [1, 1, 1]]
    # LoadAnnotations applies the map: x0 (class 0) → 1, x1 (1) → 255.
    for i, new in ((1, 1), (2, 255), (0, 0)):
        gt = ds[i]['data_samples'].gt_sem_seg.data[0]
        assert (gt[1:] == new).all() and gt[0, 0] == 255
    with pytest.raises(ValueError, match=r"\['a', 'z'\] are not a subset"):
        plain(plain_root, cls=ThreeClasses, metainfo=dict(classes=('a',
                                                                   'z')))


def test_palette_is_fixed_when_missing_and_checked(plain_root):
    meta = dict(classes=('p', 'q'))
    first = plain(plain_root, metainfo=meta).metainfo['palette']
    assert len(first) == 2 and all(len(c) == 3 for c in first)
    # A fixed seed: the same colours in every run and process.
    assert plain(plain_root, metainfo=meta).metainfo['palette'] == first
    with pytest.raises(ValueError, match='palette has 1 colours for 2'):
        plain(plain_root, metainfo=dict(meta, palette=[[0, 0, 0]]))


def test_reduce_zero_label_reaches_the_pipeline(plain_root):
    ds = plain(plain_root, cls=ThreeClasses, reduce_zero_label=True,
               pipeline=PIPELINE)
    assert ds.get_data_info(0)['reduce_zero_label'] is True
    assert ds.metainfo['reduce_zero_label'] is True
    gt = ds[0]['data_samples'].gt_sem_seg.data[0]  # sub/x2: class 2
    assert (gt[1:] == 1).all() and gt[0, 0] == 255
    gt = ds[1]['data_samples'].gt_sem_seg.data[0]  # x0: class 0
    assert (gt == 255).all()


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
