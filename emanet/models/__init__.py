"""Models: importing this package registers them into ``MODELS``."""
from . import backbones, decode_heads, losses, segmentors  # noqa: F401
from .data_preprocessor import SegDataPreProcessor

__all__ = ['SegDataPreProcessor']
