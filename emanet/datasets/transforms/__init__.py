"""Data transforms (mmcv's Resize, RandomResize, RandomFlip and TestTimeAug
are found through the parent registry)."""
from .formatting import PackSegInputs
from .geometric import RandomCrop
from .loading import LoadAnnotations, LoadImageFromFile
from .photometric import PhotoMetricDistortion

__all__ = [
    'LoadImageFromFile', 'LoadAnnotations', 'RandomCrop',
    'PhotoMetricDistortion', 'PackSegInputs'
]
