"""SegRunner's hooks and declared arguments, whatever the config lists."""
import glob
import os.path as osp
import signal

import pytest
import torch.nn as nn
from engine_toy import ToyModel, make_runner
from mmengine.config import Config

from emanet.engine import SegRunner
from emanet.engine.hooks import (
    FastInferenceHook,
    FinalValidationHook,
    InterruptHook,
    NonFiniteLossHook,
    ValRandomStateHook,
)
from emanet.engine.runner import GUARANTEE_HOOKS
from emanet.utils.errors import ConfigError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(
    REPO, 'configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py')
ADDED = 'which the guarantees of SegRunner need: added with default arguments'


def _log(runner) -> str:
    files = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(files[0]) as f:
        return f.read()


def _demo_cfg(tmp_path, **options) -> Config:
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp_path)
    return cfg


def _types(runner) -> list:
    return [type(hook) for hook in runner.hooks]


def test_config_without_custom_hooks_still_gets_guarantee_hooks(tmp_path):
    runner = SegRunner.from_cfg(_demo_cfg(tmp_path, custom_hooks=[]))
    assert set(GUARANTEE_HOOKS) == {NonFiniteLossHook, InterruptHook,
                                    ValRandomStateHook, FinalValidationHook}
    for cls in GUARANTEE_HOOKS:
        assert _types(runner).count(cls) == 1, cls
    lines = [line for line in _log(runner).splitlines() if ADDED in line]
    assert len(lines) == 1
    assert ('custom_hooks lacks NonFiniteLossHook, InterruptHook, '
            'ValRandomStateHook, FinalValidationHook, which') in lines[0]
    assert 'INFO' in lines[0]


def test_hooks_the_config_lists_are_kept_as_configured(tmp_path):
    runner = SegRunner.from_cfg(_demo_cfg(tmp_path))  # default_runtime.py
    assert ADDED not in _log(runner)
    for cls in GUARANTEE_HOOKS:
        assert _types(runner).count(cls) == 1, cls
    runner = make_runner(tmp_path / 'toy', custom_hooks=[
        dict(type='InterruptHook', save_on_interrupt=True)])
    interrupt = [h for h in runner.hooks if isinstance(h, InterruptHook)]
    assert len(interrupt) == 1 and interrupt[0].save_on_interrupt
    assert 'custom_hooks lacks NonFiniteLossHook, ValRandomStateHook, ' \
        'FinalValidationHook, which' in _log(runner)


def test_signal_handlers_are_restored_when_training_fails(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    runner = make_runner(tmp_path, max_iters=4, nan_at=2, custom_hooks=[])
    with pytest.raises(FloatingPointError):
        runner.train()
    assert signal.getsignal(signal.SIGINT) is before


def test_declared_arguments_from_the_config(tmp_path):
    runner = SegRunner.from_cfg(_demo_cfg(tmp_path))
    assert runner.allow_partial_weights is False
    assert runner.fast_inference is None
    assert FastInferenceHook not in _types(runner)
    runner = SegRunner.from_cfg(_demo_cfg(
        tmp_path, allow_partial_weights=True,
        fast_inference=dict(winograd=False)))
    assert runner.allow_partial_weights is True
    fast = [h for h in runner.hooks if isinstance(h, FastInferenceHook)]
    assert len(fast) == 1 and fast[0].options == dict(winograd=False)


def test_wrong_fast_inference_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['fuse'\]"):
        make_runner(tmp_path, fast_inference=dict(fuse=True))
    with pytest.raises(ConfigError, match='keep one'):
        make_runner(tmp_path, fast_inference={}, custom_hooks=[
            dict(type='FastInferenceHook', options={})])


class _SyncBNModel(ToyModel):

    def __init__(self):
        super().__init__()
        self.norm = nn.SyncBatchNorm(2)


def test_sync_bn_becomes_bn_without_cuda_or_processes(tmp_path):
    runner = SegRunner(model=_SyncBNModel(), work_dir=str(tmp_path),
                       default_scope='emanet')
    assert not any(isinstance(m, nn.SyncBatchNorm)
                   for m in runner.model.modules())
    assert isinstance(runner.model.norm, nn.modules.batchnorm._BatchNorm)
    assert 'SyncBN replaced by BN: running ' in _log(runner)
