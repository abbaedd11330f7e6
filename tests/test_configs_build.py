"""Every config in configs/ builds outside the Runner (pretrained off,
SyncBN reverted) and runs one loss and one predict step."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

import emanet  # noqa: F401  (registry scope)
from emanet.models.builder import build_model_outside_runner
from emanet.registry import MODELS
from emanet.structures import SegDataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p.split(osp.sep))
H, W = 64, 128


def small_model_cfg(path: str):
    cfg = Config.fromfile(path)
    model = cfg.model
    pre = model.get('data_preprocessor', None)
    if pre is not None and pre.get('size', None) is not None:
        pre.size = (H, W)  # the real crop would need a full-size forward
    test_cfg = model.get('test_cfg', None) or {}
    if test_cfg.get('mode', 'whole') == 'slide':
        # two overlapping windows
        test_cfg.crop_size, test_cfg.stride = (H, 96), (H, 32)
    return cfg


def make_samples(n: int):
    samples = []
    for _ in range(n):
        sample = SegDataSample(metainfo=dict(img_shape=(H, W),
                                             ori_shape=(H, W)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 19, (1, H, W), dtype=torch.long))
        samples.append(sample)
    return samples


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {f'emanet_r{d}-d8_4xb2-80k_cityscapes-{s}.py'
            for d in (50, 101) for s in ('512x1024', '769x769')} <= names


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_config_saves_a_checkpoint_when_interrupted(path):
    # a scheduler's SIGTERM (preemption) must not lose the iterations
    # trained since the last interval checkpoint
    hooks = [h for h in Config.fromfile(path).get('custom_hooks', [])
             if h['type'] == 'InterruptHook']
    assert len(hooks) == 1 and hooks[0].get('save_on_interrupt') is True


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(p) for p in CONFIGS])
def test_config_builds_and_runs(path):
    cfg = small_model_cfg(path)
    assert cfg.get('default_scope', 'emanet') == 'emanet'
    torch.manual_seed(0)
    model = build_model_outside_runner(cfg.model)  # no download, BN
    assert not any(isinstance(m, torch.nn.SyncBatchNorm)
                   for m in model.modules())
    num_classes = model.decode_head.num_classes
    imgs = [torch.randint(0, 256, (3, H, W), dtype=torch.uint8)]
    data = model.data_preprocessor(
        dict(inputs=imgs, data_samples=make_samples(1)), True)
    model.train()
    losses = model(**data, mode='loss')
    assert {'decode.loss_ce', 'decode.acc_seg'} <= set(losses)
    if cfg.model.get('auxiliary_head'):
        assert 'aux.loss_ce' in losses
    assert all(torch.isfinite(v).all() for v in losses.values())
    model.eval()
    data = model.data_preprocessor(
        dict(inputs=imgs, data_samples=make_samples(1)), False)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0]
    assert pred.seg_logits.data.shape == (num_classes, H, W)
    assert pred.pred_sem_seg.data.shape == (1, H, W)


def test_sync_bn_config_runs_in_one_cpu_process_without_revert():
    cfg = small_model_cfg(osp.join(
        ROOT, 'configs/emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py'))
    model = MODELS.build(cfg.model).train()
    assert any(isinstance(m, torch.nn.SyncBatchNorm)
               for m in model.modules())
    x = torch.randn(2, 3, 32, 32)
    losses = model(x, _resized_samples(2, 32), 'loss')
    assert torch.isfinite(losses['decode.loss_ce'])


def _resized_samples(n: int, size: int):
    samples = []
    for _ in range(n):
        sample = SegDataSample(metainfo=dict(img_shape=(size, size)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 19, (1, size, size), dtype=torch.long))
        samples.append(sample)
    return samples
