"""The probabilities of a prediction: the softmax of its logits, or the
test-time augmentation's own mean probabilities."""
import pytest
import torch
from mmengine.structures import PixelData

from emanet.models.segmentors.tta import SegTTAModel
from emanet.structures import SegDataSample
from emanet.structures.probabilities import PROBS_KEY, probabilities


def _sample(logits):
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


def test_softmax_of_the_logits():
    logits = torch.randn(4, 3, 5)
    assert torch.allclose(probabilities(_sample(logits)),
                          logits.softmax(0))


def test_tta_merge_marks_its_probabilities(plain_model):
    views = [_sample(torch.randn(4, 3, 5)) for _ in range(2)]
    merged = SegTTAModel(module=plain_model).merge_preds([views])[0]
    assert merged.metainfo[PROBS_KEY] is True
    expected = (views[0].seg_logits.data.softmax(0)
                + views[1].seg_logits.data.softmax(0)) / 2
    assert torch.allclose(probabilities(merged), expected)


def test_labels_alone_have_no_probabilities():
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match='labels only'):
        probabilities(sample)
