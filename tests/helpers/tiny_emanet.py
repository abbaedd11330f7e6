"""A tiny EMANet for the inference fast-path tests."""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from emanet.registry import MODELS

NORM = dict(type='BN', requires_grad=True)


def tiny_emanet_cfg() -> dict:
    """A ResNetV1c-18 EMANet with 8..64 channels and 5 classes."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), norm_cfg=NORM,
                      contract_dilation=True),
        decode_head=dict(type='EMAHead', in_channels=64, in_index=3,
                         channels=16, ema_channels=16, num_bases=8,
                         num_stages=3, momentum=0.1, dropout_ratio=0.1,
                         num_classes=5, norm_cfg=NORM, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss',
                                          loss_weight=1.0)),
        auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=2,
                            channels=8, num_convs=1, concat_input=False,
                            dropout_ratio=0.1, num_classes=5, norm_cfg=NORM,
                            align_corners=False,
                            loss_decode=dict(type='CrossEntropyLoss',
                                             loss_weight=0.4)),
        test_cfg=dict(mode='whole'))


def randomise_bn(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters."""
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def build_plain_model() -> nn.Module:
    """The tiny EMANet in eval mode, seeded, with random BN statistics."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_emanet_cfg())
    randomise_bn(model)
    return model.eval()
