"""EncoderDecoder: modes, slide windows, post-processing."""
import pytest
import torch
from mmengine.structures import PixelData

from emanet.models.segmentors.base import slide_windows
from emanet.registry import MODELS
from emanet.structures import SegDataSample

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def tiny_cfg(**test_cfg):
    norm = dict(type='BN', requires_grad=True)
    head = dict(num_classes=3, norm_cfg=norm, dropout_ratio=0.1,
                align_corners=False)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0],
                               std=[1, 1, 1], size=(32, 32)),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=2, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), contract_dilation=True,
                      norm_cfg=norm),
        decode_head=dict(type='EMAHead', in_channels=16, in_index=3,
                         channels=8, ema_channels=8, num_bases=4,
                         num_stages=2, **head),
        auxiliary_head=[
            dict(type='FCNHead', in_channels=8, in_index=2, channels=4,
                 num_convs=1, concat_input=False, **head),
            dict(type='FCNHead', in_channels=8, in_index=2, channels=8,
                 num_convs=0, concat_input=True, **head)],
        test_cfg=test_cfg or dict(mode='whole'))


def test_slide_windows_cover_image_with_full_crops():
    windows = slide_windows((40, 50), (24, 32), (16, 20))
    assert windows == [(0, 24, 0, 32), (0, 24, 18, 50), (16, 40, 0, 32),
                       (16, 40, 18, 50)]
    assert slide_windows((10, 10), (24, 32), (16, 20)) == [(0, 10, 0, 10)]


def test_modes_and_aux_list_prefixes():
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 3, 4, 4)  # tensor mode: 1/8 resolution
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(32, 32)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
        samples.append(s)
    losses = model(x, samples, mode='loss')
    assert set(losses) == {f'{p}.{k}' for p in ('decode', 'aux_0', 'aux_1')
                           for k in ('loss_ce', 'acc_seg')}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    preds = model.eval()(x, mode='predict')
    assert preds[0].seg_logits.shape == (32, 32)
    assert preds[0].pred_sem_seg.data.dtype == torch.int64


def test_predict_removes_padding_and_flips_back():
    model = MODELS.build(tiny_cfg()).eval()
    logits = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(
        2, 3, 8, 8)
    meta = dict(ori_shape=(6, 5), img_shape=(6, 5), padding_size=(0, 3, 0, 2))
    metas = [meta, dict(meta, flip=True, flip_direction='horizontal')]
    samples = [SegDataSample(metainfo=m) for m in metas]
    out = model.postprocess_result(logits, samples)
    torch.testing.assert_close(out[0].seg_logits.data, logits[0, :, :6, :5])
    torch.testing.assert_close(out[1].seg_logits.data,
                               logits[1, :, :6, :5].flip(-1))


def test_slide_groups_give_same_result_and_bad_mode_fails():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 40, 56)
    cfg = dict(mode='slide', crop_size=(24, 32), stride=(16, 16))
    model = MODELS.build(tiny_cfg(**cfg)).eval()
    with torch.no_grad():
        one = model.inference(x, [dict(ori_shape=(40, 56))])
        model.test_cfg['slide_batch_size'] = 4
        four = model.inference(x, [dict(ori_shape=(40, 56))])
    assert one.shape == (1, 3, 40, 56)
    torch.testing.assert_close(one, four, atol=1e-5, rtol=1e-5)
    model.test_cfg = dict(mode='sliding')
    with pytest.raises(ValueError, match='sliding'):
        model.inference(x, [dict(ori_shape=(40, 56))])
