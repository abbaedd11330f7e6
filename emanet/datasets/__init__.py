"""Data sets and transforms (registered on import)."""
from . import transforms  # noqa: F401  (registers the transforms)
from .basesegdataset import BaseSegDataset
from .cityscapes import CityscapesDataset, CityscapesDemoDataset

__all__ = ['BaseSegDataset', 'CityscapesDataset', 'CityscapesDemoDataset']
