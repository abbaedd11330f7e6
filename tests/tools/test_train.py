"""tools/train.py: what a run writes (the session's tiny training run,
``tiny_training``) and the config its options make."""
import glob
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from emanet.apis.training import SegTrainOptions, build_train_cfg

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO, load_tool

METRIC_KEYS = {'aAcc', 'mIoU', 'mAcc'}


def train_cfg(argv: list) -> Config:
    """The config ``tools/train.py`` trains with for ``argv``."""
    args = load_tool('tools/train.py').parse_args(argv)
    return build_train_cfg(SegTrainOptions.from_args(args))


@pytest.mark.slow
def test_train_writes_checkpoint_config_and_metrics(tiny_training):
    _, work_dir, ckpt, metrics = tiny_training
    assert osp.isfile(ckpt)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.basename(ckpt)  # relative
    assert osp.isfile(osp.join(work_dir, 'tiny_demo.py'))  # config dump
    assert METRIC_KEYS <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in METRIC_KEYS)
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        lines = [json.loads(line) for line in f]
    train_lines = [r for r in lines if 'loss' in r]
    assert [r['iter'] for r in train_lines] == [1, 2]
    assert all('lr' in r and 'time' in r for r in train_lines)
    # CPU run: peak host memory (MiB) fills the log's memory field
    assert all(r['memory'] > 0 for r in train_lines)
    assert lines[-1]['mIoU'] == metrics['mIoU']


def test_train_argument_handling(tmp_path):
    cfg = train_cfg([DEMO_CONFIG, '--resume'])
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == osp.join(
        './work_dirs', 'emanet_r18-d8_1xb4-400_cityscapes-demo-256x512')
    cfg = train_cfg(
        [DEMO_CONFIG, '--resume', 'a.pth', '--amp', '--seed', '3',
         '--deterministic', '--cfg-options',
         'optim_wrapper.optimizer.lr=0.5'])
    assert cfg.resume is True and cfg.load_from == 'a.pth'
    assert cfg.optim_wrapper.type in ('AmpOptimWrapper',
                                      'CPUAmpOptimWrapper')
    assert cfg.optim_wrapper.dtype in ('bfloat16', 'float16')
    assert cfg.randomness == dict(seed=3, deterministic=True)
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    r50 = osp.join(REPO, 'configs/emanet/'
                   'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg = train_cfg([r50, '--load-from', 'b.pth'])
    assert cfg.load_from == 'b.pth' and not cfg.resume
    # SyncBN becomes BN in SegRunner.wrap_model, not in the config
    # (tests/engine/test_runner.py).
    assert cfg.launcher == 'none'


def test_deterministic_sets_cublas_workspace_on_cuda(monkeypatch):
    """cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts: the tool sets
    it before anything is built."""
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    train_cfg([DEMO_CONFIG])
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
    train_cfg([DEMO_CONFIG, '--deterministic'])
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    train_cfg([DEMO_CONFIG, '--deterministic'])
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ


def test_amp_on_cuda_is_float16_unless_bf16_is_asked_for(monkeypatch):
    from emanet.utils import precision
    train = load_tool('tools/train.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: True)
    r50 = osp.join(REPO, 'configs/emanet/'
                   'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    assert train.parse_args([r50, '--amp']).amp == 'auto'
    wrapper = train_cfg([r50, '--amp']).optim_wrapper
    assert (wrapper.type, wrapper.dtype, wrapper.loss_scale) == (
        'AmpOptimWrapper', 'float16', 'dynamic')
    wrapper = train_cfg([r50, '--amp', 'bf16']).optim_wrapper
    assert (wrapper.type, wrapper.dtype, wrapper.loss_scale) == (
        'AmpOptimWrapper', 'bfloat16', dict(enabled=False))
