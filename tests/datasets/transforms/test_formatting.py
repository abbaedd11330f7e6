"""PackSegInputs: tensor layout and dtypes, the label field, metainfo."""
import numpy as np
import torch

from emanet.datasets.transforms import PackSegInputs
from emanet.registry import TRANSFORMS
from emanet.structures import SegDataSample


def make_results(h=32, w=48):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    seg = (np.arange(w)[None].repeat(h, 0) // 8).astype(np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                gt_seg_map=seg, seg_fields=['gt_seg_map'])


def test_registered_names():
    assert TRANSFORMS.get('PackSegInputs') is PackSegInputs


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


def test_labels_keep_their_values():
    results = make_results(4, 6)
    seg = np.full((4, 6), 255, np.uint16)
    seg[0, 0] = 300  # out of range, for the data set's check to report
    seg[1, 1] = 7
    results['gt_seg_map'] = seg
    data = PackSegInputs()(results)['data_samples'].gt_sem_seg.data
    assert data[0, 0, 0] == 300 and data[0, 1, 1] == 7
    assert data[0, 2, 2] == 255


def test_grey_image_gets_a_channel_axis():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = PackSegInputs()(dict(img=img))
    assert out['inputs'].shape == (1, 3, 4)
    np.testing.assert_array_equal(out['inputs'][0].numpy(), img)


def test_float_image_keeps_its_dtype():
    img = np.random.default_rng(1).random((5, 7, 3), dtype=np.float32)
    out = PackSegInputs()(dict(img=img))
    assert out['inputs'].dtype == torch.float32
    np.testing.assert_array_equal(out['inputs'].permute(1, 2, 0).numpy(),
                                  img)


def test_flipped_view_is_packed_contiguous():
    # A flip may return a negative-stride view, which torch cannot wrap.
    results = make_results(4, 6)
    img = results['img']
    out = PackSegInputs()(dict(results, img=img[:, ::-1],
                               gt_seg_map=results['gt_seg_map'][:, ::-1]))
    assert out['inputs'].is_contiguous()
    np.testing.assert_array_equal(out['inputs'].permute(1, 2, 0).numpy(),
                                  img[:, ::-1])
    np.testing.assert_array_equal(
        out['data_samples'].gt_sem_seg.data[0].numpy(),
        results['gt_seg_map'][:, ::-1])


def test_three_dim_label_map_is_kept():
    results = make_results(4, 6)
    results['gt_seg_map'] = results['gt_seg_map'][None]
    data = PackSegInputs()(results)['data_samples'].gt_sem_seg.data
    assert data.shape == (1, 4, 6)


def test_without_labels_there_is_no_gt_field():
    results = make_results(4, 6)
    del results['gt_seg_map']
    sample = PackSegInputs()(results)['data_samples']
    assert 'gt_sem_seg' not in sample
    assert sample.img_shape == (4, 6) and sample.ori_shape == (4, 6)


def test_custom_meta_keys():
    results = dict(make_results(4, 6), img_path='a.png', city='ulm')
    t = PackSegInputs(meta_keys=('city', 'img_path', 'not_there'))
    sample = t(results)['data_samples']
    assert sample.metainfo == {'city': 'ulm', 'img_path': 'a.png'}
    assert repr(t) == ("PackSegInputs(meta_keys=('city', 'img_path', "
                       "'not_there'))")
