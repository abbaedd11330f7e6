"""FCNHead: convs, optional concatenation with the input, classifier."""
import pytest
import torch

from emanet.models.decode_heads import FCNHead

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics

NUM_CLASSES = 5


def fcn(**kwargs) -> FCNHead:
    cfg = dict(in_channels=8, channels=4, num_classes=NUM_CLASSES,
               dropout_ratio=0.0, norm_cfg=dict(type='BN'), in_index=1)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return FCNHead(**cfg).eval()


def features():
    """Backbone outputs ``[B, C, h, w]``; the head reads index 1."""
    torch.manual_seed(1)
    return [torch.randn(2, 3, 32, 32), torch.randn(2, 8, 8, 12)]


@pytest.mark.parametrize('num_convs,concat_input', [
    (2, True), (1, False), (3, False)])
def test_logits_have_num_classes_at_the_feature_size(num_convs,
                                                     concat_input):
    head = fcn(num_convs=num_convs, concat_input=concat_input)
    assert len(head.convs) == num_convs
    assert hasattr(head, 'conv_cat') == concat_input
    logits = head(features())
    assert logits.shape == (2, NUM_CLASSES, 8, 12)
    assert torch.isfinite(logits).all()


def test_forward_is_convs_then_conv_cat_then_classifier():
    head = fcn(num_convs=2, concat_input=True)
    x = features()[1]  # [2, 8, 8, 12]
    assert head.conv_cat.conv.in_channels == 8 + 4
    assert head.conv_cat.conv.out_channels == 4
    feats = head.convs[1](head.convs[0](x))  # [2, 4, 8, 12]
    expected = head.conv_seg(head.conv_cat(torch.cat([x, feats], dim=1)))
    torch.testing.assert_close(head(features()), expected)
    # without concat_input the conv output goes to the classifier
    plain = fcn(num_convs=2, concat_input=False)
    torch.testing.assert_close(plain(features()),
                               plain.conv_seg(plain.convs(x)))


def test_num_convs_0_classifies_the_input_itself():
    head = fcn(num_convs=0, concat_input=False, channels=8)
    assert isinstance(head.convs, torch.nn.Identity)
    x = features()[1]
    assert torch.equal(head(features()), head.conv_seg(x))
    # with concat_input the input is concatenated with itself
    cat = fcn(num_convs=0, concat_input=True, channels=8)
    assert cat.conv_cat.conv.in_channels == 16
    torch.testing.assert_close(
        cat(features()),
        cat.conv_seg(cat.conv_cat(torch.cat([x, x], dim=1))))
    with pytest.raises(ValueError, match='num_convs=0 needs in_channels '
                       '== channels'):
        fcn(num_convs=0, channels=4)


def test_dilation_keeps_the_size_and_bad_values_are_refused():
    head = fcn(num_convs=2, dilation=2, kernel_size=3)
    conv = head.convs[0].conv
    assert conv.dilation == (2, 2) and conv.padding == (2, 2)
    assert head(features()).shape == (2, NUM_CLASSES, 8, 12)
    one = fcn(num_convs=1, kernel_size=1, concat_input=False)
    assert one.convs[0].conv.kernel_size == (1, 1)
    assert one.convs[0].conv.padding == (0, 0)
    for bad in (dict(num_convs=-1), dict(dilation=0)):
        with pytest.raises(ValueError, match='num_convs >= 0 and '
                           'dilation > 0'):
            fcn(**bad)
