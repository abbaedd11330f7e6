"""Data sets and transforms (registered on import)."""
from . import transforms  # noqa: F401  (registers the transforms)
from .basesegdataset import BaseSegDataset
from .cityscapes import CityscapesDataset, CityscapesDemoDataset
from .errors import BadDataError, MissingDataError

__all__ = [
    'BaseSegDataset', 'CityscapesDataset', 'CityscapesDemoDataset',
    'BadDataError', 'MissingDataError'
]
