"""LoadImageFromFile and LoadAnnotations: keys, bit depth, file checks."""
import cv2
import numpy as np
import pytest
from PIL import Image

from emanet.datasets import CityscapesDataset
from emanet.datasets.transforms import LoadAnnotations, LoadImageFromFile
from emanet.registry import TRANSFORMS
from emanet.utils.errors import BadDataError, MissingDataError

VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')


def val_info(root, i=0):
    ds = CityscapesDataset(data_root=root, data_prefix=VAL)
    info = ds.get_data_info(i)
    info['num_classes'] = 19
    return info


def write_label(path, seg: np.ndarray) -> str:
    """Write ``seg`` as a PNG at its bit depth (8 or 16) and return it."""
    assert cv2.imwrite(str(path), seg)
    return str(path)


def test_registered_names():
    for name in ('LoadImageFromFile', 'LoadAnnotations'):
        assert TRANSFORMS.get(name) is not None, name
    assert TRANSFORMS.get('LoadAnnotations') is LoadAnnotations
    # Ours, not mmcv's of the same name in the parent registry.
    assert TRANSFORMS.get('LoadImageFromFile') is LoadImageFromFile


def test_load_image_sets_img_and_shapes(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), np.uint8)
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), img)
    out = LoadImageFromFile()(dict(img_path=str(path)))
    np.testing.assert_array_equal(out['img'], img)  # BGR, as stored
    assert out['img_shape'] == (5, 7) and out['ori_shape'] == (5, 7)


def test_load_image_missing_file_is_named(tmp_path):
    path = str(tmp_path / 'gone.png')
    with pytest.raises(MissingDataError, match=f'Image {path} does not'):
        LoadImageFromFile()(dict(img_path=path))


def test_load_image_undecodable_file(tmp_path):
    path = tmp_path / 'bad.png'
    path.write_bytes(b'not a png')
    with pytest.raises(BadDataError) as e:
        LoadImageFromFile()(dict(img_path=str(path)))
    assert f'Cannot decode image {path}' in str(e.value)
    # ignore_empty keeps mmcv's meaning: a bad image gives no sample.
    assert LoadImageFromFile(ignore_empty=True)(
        dict(img_path=str(path))) is None


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


def test_reduce_zero_label_defaults_to_the_data_set_setting(tmp_path):
    path = write_label(tmp_path / 'l.png', np.array([[0, 1], [2, 255]],
                                                    np.uint8))
    results = dict(seg_map_path=path, reduce_zero_label=True)
    out = LoadAnnotations()(results)['gt_seg_map']
    np.testing.assert_array_equal(out, [[255, 0], [1, 255]])
    # An explicit argument wins over the data set's setting.
    results = dict(seg_map_path=path, reduce_zero_label=True)
    out = LoadAnnotations(reduce_zero_label=False)(results)['gt_seg_map']
    np.testing.assert_array_equal(out, [[0, 1], [2, 255]])


def test_seg_fields_is_appended_to(tmp_path):
    path = write_label(tmp_path / 'l.png', np.zeros((2, 3), np.uint8))
    out = LoadAnnotations()(dict(seg_map_path=path, seg_fields=['aux']))
    assert out['seg_fields'] == ['aux', 'gt_seg_map']


def test_size_mismatch_names_label_and_image(tmp_path):
    path = write_label(tmp_path / 'l.png', np.zeros((4, 6), np.uint8))
    with pytest.raises(BadDataError) as e:
        LoadAnnotations()(dict(seg_map_path=path, ori_shape=(4, 5),
                               img_path='img.png'))
    msg = str(e.value)
    assert f'Label map {path} is 6x4' in msg
    assert 'its image img.png is 5x4' in msg


def test_value_check_lists_bad_values(tmp_path):
    seg = np.zeros((4, 6), np.uint8)
    seg[0, :3] = [3, 7, 7]
    seg[1, 0] = 255  # ignore_index: allowed
    path = write_label(tmp_path / 'l.png', seg)
    with pytest.raises(BadDataError) as e:
        LoadAnnotations(num_classes=3)(dict(seg_map_path=path))
    assert f'Label map {path} has values [3, 7]' in str(e.value)
    assert 'class index (0..2) nor ignore_index 255' in str(e.value)
    # The argument takes precedence over the data set's num_classes.
    out = LoadAnnotations(num_classes=8)(
        dict(seg_map_path=path, num_classes=3))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    # Without num_classes anywhere, values are not checked.
    assert LoadAnnotations()(dict(seg_map_path=path))['gt_seg_map'][0, 1] \
        == 7


def test_other_ignore_index_is_accepted(tmp_path):
    seg = np.array([[0, 1], [99, 99]], np.uint8)
    path = write_label(tmp_path / 'l.png', seg)
    out = LoadAnnotations(num_classes=2, ignore_index=99)(
        dict(seg_map_path=path))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    with pytest.raises(BadDataError, match=r'values \[99\]'):
        LoadAnnotations(num_classes=2)(dict(seg_map_path=path))


def test_16bit_label_map_keeps_values_above_255(tmp_path):
    seg = np.array([[0, 1], [300, 255]], np.uint16)
    path = write_label(tmp_path / 'l.png', seg)
    out = LoadAnnotations()(dict(seg_map_path=path))['gt_seg_map']
    # 300 would be 44 after a uint8 cast: the file's type is kept.
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, seg)
    # A label_map leaves values beyond its table for the value check.
    out = LoadAnnotations()(dict(seg_map_path=path,
                                 label_map={0: 1, 1: 0}))['gt_seg_map']
    np.testing.assert_array_equal(out, [[1, 0], [300, 255]])
    with pytest.raises(BadDataError, match=r'values \[300\]'):
        LoadAnnotations(num_classes=2)(dict(seg_map_path=path))


def test_16bit_label_map_that_fits_becomes_uint8(tmp_path):
    seg = np.array([[0, 1], [18, 255]], np.uint16)
    path = write_label(tmp_path / 'l.png', seg)
    out = LoadAnnotations(num_classes=19)(dict(seg_map_path=path))
    assert out['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_seg_map'], seg)


def test_reduce_zero_label_does_not_wrap_16bit_values(tmp_path):
    path = write_label(tmp_path / 'l.png',
                       np.array([[0, 1], [300, 2]], np.uint16))
    out = LoadAnnotations(reduce_zero_label=True)(
        dict(seg_map_path=path))['gt_seg_map']
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [[255, 0], [299, 1]])


@pytest.mark.parametrize('reduce_zero_label', [False, True])
def test_16bit_256_is_named_whatever_reduce_zero_label_says(
        tmp_path, reduce_zero_label):
    # 256 - 1 = 255 once reduced: it must not become "ignore" silently.
    path = write_label(tmp_path / 'l.png',
                       np.array([[1, 2], [256, 3]], np.uint16))
    with pytest.raises(BadDataError) as e:
        LoadAnnotations(reduce_zero_label=reduce_zero_label,
                        num_classes=19)(dict(seg_map_path=path))
    msg = str(e.value)
    assert f'Label map {path} has values [256] that are neither' in msg
    assert f'reduce_zero_label ({reduce_zero_label})' in msg
    assert '\n' not in msg


def test_reduce_zero_label_refuses_256_without_num_classes(tmp_path):
    path = write_label(tmp_path / 'l.png',
                       np.array([[0, 1], [256, 300]], np.uint16))
    with pytest.raises(BadDataError, match=r'has values \[256\] that are '
                       'neither a class index nor ignore_index 255 once '
                       'reduce_zero_label shifts them down by one'):
        LoadAnnotations(reduce_zero_label=True)(dict(seg_map_path=path))


def test_bad_values_are_named_as_stored_under_reduce_zero_label(tmp_path):
    path = write_label(tmp_path / 'l.png',
                       np.array([[0, 19], [20, 255]], np.uint8))
    with pytest.raises(BadDataError, match=r'values \[20\]'):
        LoadAnnotations(reduce_zero_label=True, num_classes=19)(
            dict(seg_map_path=path))


@pytest.mark.parametrize('shape', [(1, 7), (7, 1), (1, 1)])
def test_one_pixel_wide_label_map_stays_2d(tmp_path, shape):
    seg = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    path = write_label(tmp_path / 'l.png', seg)
    out = LoadAnnotations(num_classes=19)(
        dict(seg_map_path=path, ori_shape=shape))['gt_seg_map']
    assert out.shape == shape
    np.testing.assert_array_equal(out, seg)


def test_one_bit_png_is_read_as_uint8(tmp_path):
    path = str(tmp_path / 'l.png')
    Image.fromarray(np.array([[0, 1], [1, 0]], bool)).save(path)
    out = LoadAnnotations(num_classes=2)(dict(seg_map_path=path))
    assert out['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_seg_map'], [[0, 1], [1, 0]])


def test_colour_label_map_is_refused(tmp_path):
    path = str(tmp_path / 'l.png')
    cv2.imwrite(path, np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(BadDataError) as e:
        LoadAnnotations()(dict(seg_map_path=path))
    assert f'Label map {path} has shape (4, 6, 3)' in str(e.value)
    assert 'expected one channel' in str(e.value)


def test_undecodable_label_map_is_named(tmp_path):
    path = tmp_path / 'l.png'
    path.write_bytes(b'\x89PNG garbage')
    with pytest.raises(BadDataError, match=f'Cannot decode label map {path}'):
        LoadAnnotations()(dict(seg_map_path=str(path)))


def test_load_annotations_repr():
    t = LoadAnnotations(reduce_zero_label=True, num_classes=19)
    assert repr(t) == ("LoadAnnotations(reduce_zero_label=True, "
                       "imdecode_backend='pillow', num_classes=19, "
                       'backend_args=None)')
