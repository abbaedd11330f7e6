"""The PyTorch inference fast path: BatchNorm folding, channels_last,
autocast, compile, and CPU kernels (Winograd 3x3 convolutions, wide
convolutions split over input channels, fused conv + ReLU).

``prepare_for_inference(model)`` (:mod:`.prepare`) applies them to a
segmentor whose weights are loaded; the other modules each hold one
rewrite of the model and the layer it puts in.
"""
from .bn_folding import fuse_conv_bn
from .prepare import prepare_for_inference

__all__ = ['fuse_conv_bn', 'prepare_for_inference']
