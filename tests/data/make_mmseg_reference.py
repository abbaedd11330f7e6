"""Regenerate the mmsegmentation reference fixtures used by the tests.

Needs ``mmsegmentation==1.2.2`` (``pip install mmsegmentation==1.2.2
--no-deps``); the tests themselves do not. mmseg refuses to import with
mmcv-lite: :func:`emanet.utils.mmseg_import.import_mmseg` passes its
version check and stubs its compiled-op module for the import (EMANet
uses no compiled op).

    python tests/data/make_mmseg_reference.py

Writes, next to this file:

- ``mmseg_reference_tiny.pth``: a tiny EMANet (ResNetV1c-50 with 2 base
  channels) built by mmseg with a fixed seed: its state dict (float32), a
  batch of images and labels, and mmseg's outputs computed in float64 (raw
  logits, whole and slide predictions, losses and the ``bases`` buffer after
  one training forward). float64 makes them the same on every CPU: in
  float32, kernels of different instruction sets (AVX2, AVX-512) round
  differently and the EM attention's softmax amplifies that to ~1e-4.
- ``mmseg_reference_keys.json.gz``: state-dict key names and shapes of the
  full R-50-D8 and R-101-D8 EMANet models, parameter counts and frozen
  parameter names.
- ``mmseg_reference_resnetv1d.pth``: tiny ResNetV1d backbones (D8
  Bottleneck and plain-stride BasicBlock, 2 base channels) with random
  weights (float32), an odd-sized input, their outputs in float64 in eval
  and train mode, and the state-dict keys and shapes of the full
  ResNetV1d-50/101-D8.
"""
import copy
import gzip
import json
import os.path as osp
import sys

import torch

from emanet.utils.mmseg_import import import_mmseg

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
NUM_CLASSES = 5
IMG_SHAPE = (32, 64)
ORI_SHAPE = (24, 48)

NORM_CFG = dict(type='BN', requires_grad=True)
TINY_MODEL = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=IMG_SHAPE),
    backbone=dict(
        type='ResNetV1c', depth=50, stem_channels=8, base_channels=2,
        num_stages=4, out_indices=(0, 1, 2, 3), strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4), norm_cfg=NORM_CFG, norm_eval=False,
        style='pytorch', contract_dilation=True),
    decode_head=dict(
        type='EMAHead', in_channels=64, in_index=3, channels=16,
        ema_channels=16, num_bases=8, num_stages=3, momentum=0.1,
        dropout_ratio=0.0, num_classes=NUM_CLASSES, norm_cfg=NORM_CFG,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=32, in_index=2, channels=8, num_convs=1,
        concat_input=False, dropout_ratio=0.0, num_classes=NUM_CLASSES,
        norm_cfg=NORM_CFG, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
SLIDE_CFG = dict(mode='slide', crop_size=(24, 40), stride=(16, 24))


def make_batch(seed: int = 0):
    """Two uint8 BGR images and labels with some ignored (255) pixels."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (2, 3, *IMG_SHAPE), generator=g,
                         dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (2, 1, *IMG_SHAPE), generator=g)
    labels[:, :, :4, :] = 255
    labels[1, :, :, -6:] = 255
    return imgs, labels


def randomise(model: torch.nn.Module, seed: int = 1) -> None:
    """Non-trivial weights and BN statistics (not the zero-init ones)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('num_batches_tracked') or 'bases' in name:
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)
            elif tensor.dim() == 1:
                tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.1 +
                             (1.0 if name.endswith('weight') else 0.0))
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=g) *
                             (2.0 / fan_in)**0.5)


def make_tiny() -> dict:
    from mmengine.config import ConfigDict
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(copy.deepcopy(TINY_MODEL)))
    randomise(model)
    state_dict = {k: v.clone() for k, v in model.state_dict().items()}
    imgs, labels = make_batch()

    def samples(train: bool):
        out = []
        for i in range(2):
            meta = dict(img_shape=IMG_SHAPE, ori_shape=IMG_SHAPE)
            if not train:
                meta = dict(img_shape=IMG_SHAPE, ori_shape=ORI_SHAPE,
                            flip=i == 1, flip_direction='horizontal')
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=labels[i].clone())
            out.append(sample)
        return out

    result = dict(config=TINY_MODEL, slide_test_cfg=SLIDE_CFG,
                  state_dict=state_dict, imgs=imgs, labels=labels,
                  ori_shape=ORI_SHAPE)
    model.double().eval()
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=list(imgs), data_samples=samples(False)), False)
        data['inputs'] = data['inputs'].double()
        result['tensor_logits'] = model(data['inputs'], mode='tensor')
        preds = model(**data, mode='predict')
        result['whole_seg_logits'] = torch.stack(
            [p.seg_logits.data for p in preds])
        model.test_cfg = ConfigDict(SLIDE_CFG)
        preds = model(**data, mode='predict')
        result['slide_seg_logits'] = torch.stack(
            [p.seg_logits.data for p in preds])
    model.train()
    data = model.data_preprocessor(
        dict(inputs=list(imgs), data_samples=samples(True)), True)
    data['inputs'] = data['inputs'].double()
    losses = model(**data, mode='loss')
    result['losses'] = {k: v.detach().reshape(-1)[0].clone()
                        for k, v in losses.items()}
    result['bases_after_train'] = model.decode_head.ema_module.bases.clone()
    return result


def full_model_keys() -> dict:
    from mmengine.config import Config
    from mmseg.registry import MODELS

    out = {}
    for depth, name in ((50, 'r50'), (101, 'r101')):
        cfg = Config.fromfile(osp.join(
            ROOT, 'configs/emanet/'
            f'emanet_r{depth}-d8_4xb2-80k_cityscapes-512x1024.py'))
        cfg.model.pretrained = None
        cfg.model.data_preprocessor = None
        model = MODELS.build(cfg.model)
        out[name] = dict(
            keys=[[k, list(v.shape)] for k, v in model.state_dict().items()],
            num_params=sum(p.numel() for p in model.parameters()),
            frozen=sorted(k for k, p in model.named_parameters()
                          if not p.requires_grad))
    return out


# The V1d backbones compared: EMANet's D8 layout (dilated, stride 1 in the
# last stages: identity average pools) and plain strides (a 2x2 pool in
# every strided shortcut; odd sizes exercise ceil_mode).
V1D_TINY = dict(
    d8_bottleneck=dict(
        type='ResNetV1d', depth=50, stem_channels=8, base_channels=2,
        strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
        contract_dilation=True, norm_cfg=NORM_CFG),
    strided_basic=dict(
        type='ResNetV1d', depth=18, stem_channels=8, base_channels=2,
        norm_cfg=NORM_CFG))
V1D_FULL = dict(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                contract_dilation=True, norm_cfg=NORM_CFG)


def make_resnetv1d() -> dict:
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    g = torch.Generator().manual_seed(2)
    imgs = torch.randn(2, 3, 37, 45, generator=g)
    result = dict(imgs=imgs, tiny={}, full={})
    for name, cfg in V1D_TINY.items():
        torch.manual_seed(0)
        model = MODELS.build(ConfigDict(copy.deepcopy(cfg)))
        randomise(model)
        entry = dict(config=cfg, state_dict={
            k: v.clone() for k, v in model.state_dict().items()})
        model.double()
        for mode in ('eval', 'train'):
            model.train(mode == 'train')
            with torch.no_grad():
                entry[mode] = [o.clone() for o in model(imgs.double())]
        result['tiny'][name] = entry
    for depth in (50, 101):
        cfg = dict(V1D_FULL, type='ResNetV1d', depth=depth)
        model = MODELS.build(ConfigDict(cfg))
        result['full'][depth] = [[k, list(v.shape)]
                                 for k, v in model.state_dict().items()]
    return result


def main() -> None:
    if import_mmseg() is None:
        sys.exit('mmsegmentation is not installed: pip install --no-deps '
                 'mmsegmentation==1.2.2')
    from mmengine.registry import DefaultScope
    DefaultScope.get_instance('make_reference', scope_name='mmseg')
    tiny = make_tiny()
    path = osp.join(HERE, 'mmseg_reference_tiny.pth')
    torch.save(tiny, path)
    print(f'wrote {path} ({osp.getsize(path) // 1024} KB)')
    path = osp.join(HERE, 'mmseg_reference_keys.json.gz')
    with gzip.open(path, 'wt') as f:
        json.dump(full_model_keys(), f, separators=(',', ':'))
    print(f'wrote {path} ({osp.getsize(path) // 1024} KB)')
    write_resnetv1d()


def write_resnetv1d() -> None:
    """Write ``mmseg_reference_resnetv1d.pth`` (after ``import_mmseg``)."""
    path = osp.join(HERE, 'mmseg_reference_resnetv1d.pth')
    torch.save(make_resnetv1d(), path)
    print(f'wrote {path} ({osp.getsize(path) // 1024} KB)')


if __name__ == '__main__':
    main()
