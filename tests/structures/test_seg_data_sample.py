"""SegDataSample: typed pixel fields and image meta information."""
import pytest
import torch
from mmengine.structures import PixelData

from emanet.structures import SegDataSample


@pytest.mark.parametrize('field', ['gt_sem_seg', 'seg_logits',
                                   'pred_sem_seg'])
def test_pixel_fields_set_get_delete(field):
    sample = SegDataSample(metainfo=dict(img_path='a.png', ori_shape=(4, 6)))
    data = torch.arange(24).reshape(1, 4, 6)
    setattr(sample, field, PixelData(data=data))
    assert torch.equal(getattr(sample, field).data, data)
    assert field in sample
    delattr(sample, field)
    assert field not in sample
    assert sample.img_path == 'a.png' and sample.ori_shape == (4, 6)


def test_pixel_fields_refuse_other_types():
    sample = SegDataSample()
    with pytest.raises(AssertionError, match='PixelData'):
        sample.pred_sem_seg = torch.zeros(1, 4, 6)
