"""Backbones."""
from .resnet import BasicBlock, Bottleneck, ResLayer, ResNet, ResNetV1c

__all__ = ['BasicBlock', 'Bottleneck', 'ResLayer', 'ResNet', 'ResNetV1c']
