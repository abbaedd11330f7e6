"""Segmentors."""
from .encoder_decoder import EncoderDecoder
from .tta import SegTTAModel

__all__ = ['EncoderDecoder', 'SegTTAModel']
