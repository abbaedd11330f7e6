"""Decode heads."""
from .decode_head import BaseDecodeHead
from .ema_head import EMAHead, EMAModule
from .fcn_head import FCNHead

__all__ = ['BaseDecodeHead', 'EMAHead', 'EMAModule', 'FCNHead']
