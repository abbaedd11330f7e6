"""SegRunner: hooks and arguments, the config dump, the machine.

Hooks the guarantees rest on are added whatever the config lists; its own
arguments come from the config too; only training dumps the config into
the work dir; SyncBN becomes BN where it cannot run; deterministic CUDA
warns where no kernel is. Saving and resuming: tests/engine/checkpoint.
"""
import glob
import os
import os.path as osp
import signal

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from emanet.engine.hooks import (
    FastInferenceHook,
    FinalValidationHook,
    InterruptHook,
    NonFiniteLossHook,
    ValRandomStateHook,
)
from emanet.engine.hooks.guarantees import GUARANTEE_HOOKS
from emanet.engine.runner import SegRunner
from emanet.utils.errors import ConfigError

from helpers.engine_toy import ToyModel, eval_args, make_runner
from helpers.tiny_demo import DEMO_CONFIG

ADDED = 'which the guarantees of SegRunner need: added with default arguments'


# Hooks and declared arguments ------------------------------------------
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


def test_arguments_win_over_the_config(tmp_path):
    cfg = dict(allow_partial_weights=True, fast_inference=dict(fuse=True))
    runner = SegRunner(model=ToyModel(), work_dir=str(tmp_path), cfg=cfg,
                       allow_partial_weights=False, fast_inference={},
                       default_scope='emanet')
    assert runner.allow_partial_weights is False
    assert runner.fast_inference == {}
    with pytest.raises(TypeError):  # mmengine's arguments go by keyword
        SegRunner(ToyModel(), str(tmp_path), None)


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


def test_deterministic_on_cuda_warns_where_no_kernel_is(tmp_path,
                                                        monkeypatch):
    """mmengine's strict setting makes CUDA training raise at the first
    bilinear-resize backward; SegRunner relaxes it on CUDA only."""
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        runner = SegRunner(model=ToyModel(), work_dir=str(tmp_path),
                           default_scope='emanet',
                           randomness=dict(seed=0, deterministic=True))
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        # The same call on a machine with one GPU (mmengine's seeding of
        # the GPU generators is left out).
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
        monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
        monkeypatch.setattr(torch.cuda, 'manual_seed_all', lambda seed: None)
        monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
        runner.set_randomness(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic
        assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
        assert _log(runner).count('deterministic on CUDA') == 1
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


# Config dump -----------------------------------------------------------
def _config(folder, note: str) -> Config:
    """A config file ``<folder>/<note>/toy_cfg.py`` holding ``note``."""
    path = folder / note / 'toy_cfg.py'
    path.parent.mkdir()
    path.write_text(f'note = {note!r}\n')
    return Config.fromfile(str(path))


def test_training_dumps_config_in_work_dir_testing_in_its_log_folder(
        tmp_path):
    work = tmp_path / 'work'
    trainer = make_runner(work, max_iters=2, cfg=_config(tmp_path, 'train'),
                          experiment_name='train')
    dump = work / 'toy_cfg.py'
    assert not dump.exists()  # not before the runner knows its job
    trainer.train()
    assert Config.fromfile(str(dump)).note == 'train'

    tester = make_runner(work, cfg=_config(tmp_path, 'test'),
                         experiment_name='test', **eval_args('test'))
    assert tester.test() == {'toy/count': 16.0}
    assert Config.fromfile(str(dump)).note == 'train'  # kept
    test_dump = osp.join(tester.log_dir, 'toy_cfg.py')
    assert Config.fromfile(test_dump).note == 'test'

    validator = make_runner(work, cfg=_config(tmp_path, 'val'),
                            experiment_name='val', **eval_args('val'))
    validator.val()
    assert Config.fromfile(str(dump)).note == 'train'
    assert Config.fromfile(osp.join(validator.log_dir,
                                    'toy_cfg.py')).note == 'val'
