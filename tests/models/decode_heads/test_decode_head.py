"""BaseDecodeHead: input selection, classifier, losses and resizes."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from emanet.models.decode_heads import BaseDecodeHead
from emanet.models.decode_heads.fcn_head import FCNHead
from emanet.models.losses import accuracy
from emanet.structures import SegDataSample
from emanet.utils.errors import ConfigError, ConfigTypeError

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

NUM_CLASSES = 3


class PlainHead(BaseDecodeHead):
    """Classifies the selected feature directly: no layers of its own."""

    def forward(self, inputs):
        return self.cls_seg(self._transform_inputs(inputs))


def plain_head(**kwargs) -> PlainHead:
    cfg = dict(in_channels=4, channels=4, num_classes=NUM_CLASSES,
               dropout_ratio=0.0)
    cfg.update(kwargs)
    return PlainHead(**cfg)


def features():
    """Three backbone outputs with different channels and sizes."""
    torch.manual_seed(0)
    return [torch.randn(2, 2, 16, 16), torch.randn(2, 4, 8, 8),
            torch.randn(2, 6, 8, 8)]


def samples_with_labels(labels: torch.Tensor) -> list:
    """One SegDataSample per image of ``labels`` [B, H, W]."""
    out = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])  # [1, H, W]
        out.append(sample)
    return out


def test_decode_head_refuses_falsy_or_unfitting_losses():
    kwargs = dict(in_channels=4, channels=4, num_classes=3)
    for bad in (0, [], '', [0]):
        with pytest.raises(ConfigTypeError) as err:
            FCNHead(loss_decode=bad, **kwargs)
        assert f'FCNHead: loss_decode={bad!r} ' in str(err.value)
    ce = dict(type='CrossEntropyLoss', avg_non_ignore=True)
    assert FCNHead(loss_decode=None, **kwargs).loss_decode.loss_name == \
        'loss_ce'
    assert len(FCNHead(loss_decode=[ce, ce], **kwargs).loss_decode) == 2
    with pytest.raises(ConfigError, match='loss_decode loss_ce has 19 '
                       'class_weight entries but num_classes=3'):
        FCNHead(loss_decode=dict(ce, class_weight=[1.0] * 19), **kwargs)


def test_in_index_selects_one_input_feature():
    feats = features()
    head = plain_head(in_index=1)
    logits = head(feats)
    assert logits.shape == (2, NUM_CLASSES, 8, 8)
    assert torch.equal(logits, head.conv_seg(feats[1]))
    last = plain_head(in_channels=6, channels=6)  # default in_index=-1
    assert last.in_index == -1
    assert torch.equal(last(feats), last.conv_seg(feats[2]))
    # one feature per head: lists of indices or channels are refused
    with pytest.raises(TypeError, match=r'must be ints .* \[0, 1\]'):
        plain_head(in_index=[0, 1])
    with pytest.raises(TypeError, match=r'\(4, 6\) and -1'):
        plain_head(in_channels=(4, 6))


def test_out_channels_must_equal_num_classes():
    assert plain_head(out_channels=NUM_CLASSES).out_channels == NUM_CLASSES
    with pytest.raises(ValueError, match=r'out_channels \(1\) must equal '
                       r'num_classes \(3\)'):
        plain_head(out_channels=1)


def test_cls_seg_is_dropout2d_then_1x1_conv():
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 5, 7)  # [B, channels, h, w]
    head = plain_head(in_channels=8, channels=8, dropout_ratio=0.5)
    assert head.conv_seg.weight.shape == (NUM_CLASSES, 8, 1, 1)
    assert isinstance(head.dropout, torch.nn.Dropout2d)
    assert head.dropout.p == 0.5
    head.train()
    torch.manual_seed(1)
    trained = head.cls_seg(feat)
    torch.manual_seed(1)  # the same channel mask
    dropped = F.dropout2d(feat, p=0.5, training=True)
    assert trained.shape == (2, NUM_CLASSES, 5, 7)
    assert torch.equal(trained, head.conv_seg(dropped))
    # Dropout2d zeroes whole channels: some of the 16 are gone
    assert (dropped.abs().sum(dim=(2, 3)) == 0).any()
    # in eval mode dropout does nothing
    assert torch.equal(head.eval().cls_seg(feat), head.conv_seg(feat))
    assert plain_head(dropout_ratio=0.0).dropout is None


def test_init_weights_draws_conv_seg_from_normal_001():
    torch.manual_seed(0)
    head = plain_head(in_channels=64, channels=64, num_classes=32)
    assert head.conv_seg.bias.abs().sum() > 0  # PyTorch's default init
    head.init_weights()
    assert torch.equal(head.conv_seg.bias, torch.zeros(32))
    std = head.conv_seg.weight.std().item()  # 2048 samples of N(0, 0.01)
    assert 0.009 < std < 0.011


@pytest.mark.parametrize('align_corners', [False, True])
def test_loss_by_feat_resizes_logits_to_the_label_size(align_corners):
    torch.manual_seed(0)
    logits = torch.randn(2, NUM_CLASSES, 4, 4)  # [B, K, h, w]
    labels = torch.randint(0, NUM_CLASSES, (2, 16, 12))  # [B, H, W]
    labels[1, :4] = 255  # ignored rows
    head = plain_head(align_corners=align_corners)
    losses = head.loss_by_feat(logits, samples_with_labels(labels))
    assert set(losses) == {'loss_ce', 'acc_seg'}
    up = F.interpolate(logits, size=(16, 12), mode='bilinear',
                       align_corners=align_corners)  # [B, K, H, W]
    # default mean: summed loss over ALL pixels, ignored ones included
    summed = F.cross_entropy(up, labels, ignore_index=255, reduction='sum')
    torch.testing.assert_close(losses['loss_ce'], summed / labels.numel())
    torch.testing.assert_close(losses['acc_seg'], accuracy(up, labels))


def test_losses_of_one_name_are_summed_and_ignore_index_is_used():
    torch.manual_seed(0)
    logits = torch.randn(1, NUM_CLASSES, 6, 6)
    labels = torch.randint(0, NUM_CLASSES, (1, 6, 6))
    ce = dict(type='CrossEntropyLoss', avg_non_ignore=True)
    head = plain_head(ignore_index=0, loss_decode=[
        ce, dict(ce, loss_weight=0.5), dict(ce, loss_name='loss_x')])
    losses = head.loss_by_feat(logits, samples_with_labels(labels))
    assert set(losses) == {'loss_ce', 'loss_x', 'acc_seg'}
    # same size: no resize; class 0 is the ignored label here
    one = F.cross_entropy(logits, labels, ignore_index=0)
    torch.testing.assert_close(losses['loss_ce'], 1.5 * one)
    torch.testing.assert_close(losses['loss_x'], one)
    torch.testing.assert_close(losses['acc_seg'],
                               accuracy(logits, labels, ignore_index=0))


def test_loss_is_loss_by_feat_of_forward():
    feats = features()
    head = plain_head(in_index=1)
    labels = torch.randint(0, NUM_CLASSES, (2, 8, 8))
    samples = samples_with_labels(labels)
    losses = head.loss(feats, samples)
    expected = head.loss_by_feat(head(feats), samples)
    assert losses.keys() == expected.keys()
    for name in expected:
        assert torch.equal(losses[name], expected[name])


def test_predict_by_feat_resizes_to_pad_shape_else_img_shape():
    torch.manual_seed(0)
    logits = torch.randn(2, NUM_CLASSES, 4, 5)
    head = plain_head()
    padded = head.predict_by_feat(
        logits, [dict(img_shape=(14, 18), pad_shape=(16, 20))] * 2)
    torch.testing.assert_close(padded, F.interpolate(
        logits, size=(16, 20), mode='bilinear', align_corners=False))
    unpadded = head.predict_by_feat(logits, [dict(img_shape=(14, 18))] * 2)
    assert unpadded.shape == (2, NUM_CLASSES, 14, 18)
    corners = plain_head(align_corners=True).predict_by_feat(
        logits, [dict(img_shape=(14, 18))])
    torch.testing.assert_close(corners, F.interpolate(
        logits, size=(14, 18), mode='bilinear', align_corners=True))
    # the whole batch shares the first image's (padded) shape
    feats = features()
    head = plain_head(in_index=1)
    out = head.predict(feats, [dict(img_shape=(32, 32)),
                               dict(img_shape=(30, 30))])
    assert torch.equal(out, head.predict_by_feat(head(feats),
                                                 [dict(img_shape=(32, 32))]))
    assert out.shape == (2, NUM_CLASSES, 32, 32)
