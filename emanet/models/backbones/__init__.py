"""Backbones."""
from .blocks import BasicBlock, Bottleneck, ResLayer
from .resnet import ResNet, ResNetV1c, ResNetV1d

__all__ = [
    'BasicBlock', 'Bottleneck', 'ResLayer', 'ResNet', 'ResNetV1c', 'ResNetV1d'
]
