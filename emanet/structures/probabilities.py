"""The class probabilities of a prediction.

A segmentor's samples hold ``seg_logits``, class scores whose softmax
over the classes gives the probabilities; the test-time augmentation
merge (:class:`~emanet.models.segmentors.tta.SegTTAModel`) stores the
probabilities themselves there (the mean of its views' softmax) and says
so in the sample's metainfo (:data:`PROBS_KEY`).
"""
from torch import Tensor

from .seg_data_sample import SegDataSample

# metainfo key: True when ``seg_logits`` already holds probabilities
PROBS_KEY = 'seg_logits_are_probs'


def probabilities(sample: SegDataSample) -> Tensor:
    """The class probabilities ``[C, H, W]`` (float32) of a prediction.

    Raises:
        ValueError: the sample holds no class scores (e.g. a model
            exported with ``--output label``).
    """
    if 'seg_logits' not in sample:
        raise ValueError('the prediction holds labels only, no class '
                         'scores to give probabilities')
    scores = sample.seg_logits.data.float()  # [C, H, W]
    if sample.metainfo.get(PROBS_KEY, False):
        return scores
    return scores.softmax(dim=0)
