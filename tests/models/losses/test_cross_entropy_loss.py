"""CrossEntropyLoss: mmsegmentation's averaging rules and class weights."""
import pytest
import torch
import torch.nn.functional as F

from emanet.models.losses import CrossEntropyLoss

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

