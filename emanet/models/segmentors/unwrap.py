"""The segmentor inside the wrappers a Runner puts around it."""
from typing import Tuple

from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn


def unwrap_segmentor(model: nn.Module) -> Tuple[nn.Module, bool]:
    """The segmentor inside DDP and test-time augmentation wrappers.

    Covers a plain segmentor, ``DDP(segmentor)``, ``SegTTAModel(segmentor)``
    (``--aug-test``) and ``DDP(SegTTAModel(segmentor))``.

    Args:
        model: the runner's model.

    Returns:
        tuple: the segmentor, and whether it runs under test-time
        augmentation.
    """
    if is_model_wrapper(model):
        model = model.module
    tta = isinstance(model, BaseTTAModel)
    return (model.module if tta else model), tta
