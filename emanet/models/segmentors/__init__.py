"""Segmentors."""
from .base import BaseSegmentor
from .encoder_decoder import EncoderDecoder
from .tta import SegTTAModel

__all__ = ['BaseSegmentor', 'EncoderDecoder', 'SegTTAModel']
