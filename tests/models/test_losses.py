"""CrossEntropyLoss averaging rules and the accuracy helper."""
import pytest
import torch
import torch.nn.functional as F

from emanet.models.losses import CrossEntropyLoss, accuracy

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


@pytest.fixture
def batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    label = torch.randint(0, 4, (2, 5, 6))
    label[0, :2] = 255  # 12 of 60 pixels ignored
    return logits, label


def test_default_mean_counts_ignored_pixels(batch):
    logits, label = batch
    loss = CrossEntropyLoss(loss_weight=0.4)(logits, label, ignore_index=255)
    summed = F.cross_entropy(logits, label, ignore_index=255,
                             reduction='sum')
    torch.testing.assert_close(loss, 0.4 * summed / 60)


def test_avg_non_ignore_matches_pytorch(batch):
    logits, label = batch
    loss = CrossEntropyLoss(avg_non_ignore=True)(logits, label,
                                                 ignore_index=255)
    torch.testing.assert_close(
        loss, F.cross_entropy(logits, label, ignore_index=255))
    assert CrossEntropyLoss().loss_name == 'loss_ce'
    assert CrossEntropyLoss(loss_name='loss_x').loss_name == 'loss_x'


def test_class_weight_and_reductions(batch):
    logits, label = batch
    weight = [1.0, 2.0, 0.5, 1.5]
    loss = CrossEntropyLoss(class_weight=weight)(logits, label,
                                                 ignore_index=255)
    ref = F.cross_entropy(logits, label, weight=torch.tensor(weight),
                          ignore_index=255)
    torch.testing.assert_close(loss, ref)
    per_pixel = CrossEntropyLoss(reduction='none')(logits, label,
                                                   ignore_index=255)
    assert per_pixel.shape == (2, 5, 6) and torch.all(per_pixel[0, :2] == 0)
    total = CrossEntropyLoss(reduction='sum')(logits, label,
                                              ignore_index=255)
    torch.testing.assert_close(total, per_pixel.sum())


def test_accuracy_ignores_255():
    pred = torch.zeros(1, 3, 2, 2)
    pred[0, 1] = 1  # predicts class 1 everywhere
    label = torch.tensor([[[1, 1], [0, 255]]])
    acc = accuracy(pred, label, ignore_index=255)
    assert acc.shape == (1,)
    torch.testing.assert_close(acc, torch.tensor([200 / 3]))
    all_ignored = torch.full((1, 2, 2), 255)
    torch.testing.assert_close(accuracy(pred, all_ignored),
                               torch.tensor([100.0]))


def test_class_weight_must_fit_the_classes(batch):
    from emanet.utils.errors import ConfigError, ConfigTypeError
    logits, label = batch
    loss = CrossEntropyLoss(class_weight=[1.0] * 5, avg_non_ignore=True)
    with pytest.raises(ConfigError, match='5 class_weight entries for 4 '
                       'classes'):
        loss(logits, label, ignore_index=255)
    with pytest.raises(ConfigTypeError, match="class_weight=\\['a'\\]; "
                       'expected a list of numbers'):
        CrossEntropyLoss(class_weight=['a'])


def test_decode_head_refuses_falsy_or_unfitting_losses():
    from emanet.models.decode_heads.fcn_head import FCNHead
    from emanet.utils.errors import ConfigError, ConfigTypeError
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
