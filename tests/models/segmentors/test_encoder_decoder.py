"""EncoderDecoder: modes, loss prefixes, slide inference of a network."""
import pytest
import torch
from mmengine.structures import PixelData

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


def test_single_aux_head_prefix_and_tensor_mode_is_decode_head():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg['auxiliary_head'] = cfg['auxiliary_head'][0]
    model = MODELS.build(cfg).eval()
    x = torch.randn(1, 3, 32, 32)
    sample = SegDataSample(metainfo=dict(img_shape=(32, 32)))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
    losses = model(x, [sample], mode='loss')
    assert set(losses) == {f'{p}.{k}' for p in ('decode', 'aux')
                           for k in ('loss_ce', 'acc_seg')}
    with torch.no_grad():
        assert torch.equal(model(x), model.decode_head(model.backbone(x)))
    assert model.out_channels == model.num_classes == 3


def test_pretrained_goes_to_the_backbone_once():
    cfg = tiny_cfg()
    model = MODELS.build(dict(cfg, pretrained='backbone.pth'))
    assert model.backbone.pretrained == 'backbone.pth'
    assert 'pretrained' not in cfg['backbone']  # the config is not edited
    cfg['backbone']['pretrained'] = 'other.pth'
    with pytest.raises(ValueError, match='pretrained is set both'):
        MODELS.build(dict(cfg, pretrained='backbone.pth'))
