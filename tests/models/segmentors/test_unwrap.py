"""unwrap_segmentor through every wrapper a Runner may put around it."""
import torch
from mmengine.model import MMDistributedDataParallel

from emanet.models.segmentors import SegTTAModel
from emanet.models.segmentors.unwrap import unwrap_segmentor


class _DDPStandIn(MMDistributedDataParallel):
    """A DDP wrapper without a process group: only ``module`` is read."""

    def __init__(self, module: torch.nn.Module) -> None:
        torch.nn.Module.__init__(self)
        self.module = module


def test_every_wrapping_gives_the_segmentor(plain_model):
    tta = SegTTAModel(module=plain_model)
    assert unwrap_segmentor(plain_model) == (plain_model, False)
    assert unwrap_segmentor(tta) == (plain_model, True)
    assert unwrap_segmentor(_DDPStandIn(plain_model)) == (plain_model, False)
    assert unwrap_segmentor(_DDPStandIn(tta)) == (plain_model, True)
