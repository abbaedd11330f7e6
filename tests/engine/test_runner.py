"""SegRunner: hooks and arguments, saving, loading and exact resume.

Hooks the guarantees rest on are added whatever the config lists; a save
cut short keeps the previous checkpoint (a full disk stops with one line
naming the file and the previous checkpoint; temporary files of a killed
save are removed when training resumes); a state holding NaN/Inf is never
saved; resuming repeats an uninterrupted run exactly (toy model, CPU).
"""
import errno
import glob
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from engine_toy import ToyModel, losses, make_runner
from mmengine.config import Config
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook
from tiny_demo import DEMO_CONFIG
from tool_loader import REPO

from emanet.engine import SegRunner
from emanet.engine.checkpoint_loading import load_checkpoint_file
from emanet.engine.hooks import (
    FastInferenceHook,
    FinalValidationHook,
    InterruptHook,
    NonFiniteLossHook,
    ValRandomStateHook,
)
from emanet.engine.last_checkpoint import read_last_checkpoint
from emanet.engine.runner import GUARANTEE_HOOKS
from emanet.utils.errors import (
    CheckpointError,
    ConfigError,
    TrainingDivergedError,
    UserError,
    WorkDirError,
)

# The script run in a subprocess imports this module (tests/engine) and
# engine_toy (tests/).
ENGINE_DIR = osp.dirname(osp.abspath(__file__))
TESTS_DIR = osp.join(REPO, 'tests')
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


# Saving ----------------------------------------------------------------
def _half_write_put(crash):
    """A LocalBackend.put that writes half the bytes then crashes."""
    original = LocalBackend.put

    def put(self, obj, filepath):
        if os.path.basename(filepath).startswith('.iter_4.pth'):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            crash()
        return original(self, obj, filepath)

    return put


def _assert_previous_checkpoint_intact(work_dir):
    last = read_last_checkpoint(str(work_dir))
    assert last == str(work_dir / 'iter_2.pth')
    ckpt = load_checkpoint_file(last)
    assert ckpt['meta']['iter'] == 2
    pth_files = sorted(p.name for p in work_dir.iterdir()
                       if p.name.endswith('.pth'))
    assert pth_files == ['iter_2.pth']


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    def crash():
        raise OSError('disk full')

    monkeypatch.setattr(LocalBackend, 'put', _half_write_put(crash))
    # max_keep_ckpts=1: the old checkpoint must not be deleted before the
    # new one exists.
    runner = make_runner(tmp_path, max_iters=4, interval=2, max_keep_ckpts=1)
    with pytest.raises(OSError, match='disk full'):
        runner.train()
    _assert_previous_checkpoint_intact(tmp_path)
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]


def test_full_disk_names_the_file_and_keeps_previous(tmp_path, monkeypatch):
    def crash():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(LocalBackend, 'put', _half_write_put(crash))
    runner = make_runner(tmp_path, max_iters=4, interval=2, max_keep_ckpts=1)
    with pytest.raises(WorkDirError) as err:
        runner.train()
    assert isinstance(err.value, UserError)
    assert str(err.value).startswith(
        f'Could not write {tmp_path / "iter_4.pth"}: the disk is full (or '
        'the quota is used up) [[Errno 28] No space left on device]. The '
        f'previous checkpoint {tmp_path / "iter_2.pth"} is intact and named '
        'in last_checkpoint. Free space there or choose another folder '
        '(--work-dir, or work_dir in the config)')
    _assert_previous_checkpoint_intact(tmp_path)
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]


@pytest.mark.slow
def test_killed_save_keeps_previous_checkpoint_and_resumes(tmp_path):
    script = tmp_path / 'train_and_die.py'
    script.write_text(textwrap.dedent(f'''
        import os, signal, sys
        from mmengine.fileio.backends.local_backend import LocalBackend
        from engine_toy import make_runner
        from test_runner import _half_write_put
        LocalBackend.put = _half_write_put(
            lambda: os.kill(os.getpid(), signal.SIGKILL))
        make_runner({str(tmp_path / "wd")!r}, max_iters=4, interval=2,
                    max_keep_ckpts=1).train()
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, ENGINE_DIR, TESTS_DIR]))
    proc = subprocess.run([sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    work_dir = tmp_path / 'wd'
    _assert_previous_checkpoint_intact(work_dir)
    # The killed save left a hidden temporary file, never named *.pth ...
    leftovers = [p for p in os.listdir(work_dir) if '.tmp-' in p]
    assert leftovers and all(p.startswith('.iter_4.pth.tmp-')
                             for p in leftovers)
    # ... which resuming cleans up; training then finishes from iter 2.
    runner = make_runner(work_dir, max_iters=4, interval=2, resume=True)
    runner.train()
    assert runner.iter == 4
    assert not [p for p in os.listdir(work_dir) if '.tmp-' in p]
    assert load_checkpoint_file(str(work_dir / 'iter_4.pth'))['meta'][
        'iter'] == 4
    assert torch.equal(
        load_checkpoint_file(str(work_dir / 'iter_4.pth'))['state_dict'][
            'linear.weight'], runner.model.linear.weight.detach())


class _PoisonBases(Hook):
    """Makes the moving-average buffer infinite after iteration ``at``,
    the loss staying finite (like BatchNorm statistics that overflow)."""

    priority = 'NORMAL'  # before CheckpointHook

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            runner.model.bases.fill_(float('inf'))


def test_nonfinite_state_is_never_saved(tmp_path):
    runner = make_runner(tmp_path, max_iters=6, interval=1,
                         custom_hooks=[dict(type='NonFiniteLossHook'),
                                       _PoisonBases(3)])
    with pytest.raises(TrainingDivergedError) as err:
        runner.train()
    msg = str(err.value)
    last = tmp_path / 'iter_2.pth'
    assert msg.startswith(
        "Training diverged: the model holds NaN/Inf in 1 tensor(s) (first "
        "['bases']; BatchNorm statistics and EMA bases count too), so "
        f"{tmp_path / 'iter_3.pth'} was not saved. The last finite "
        f"checkpoint is {last}: lower the learning rate")
    assert f'--load-from {last}' in msg and '\n' not in msg
    assert isinstance(err.value, FloatingPointError) and \
        isinstance(err.value, UserError)
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.pth')) \
        == ['iter_1.pth', 'iter_2.pth']
    assert read_last_checkpoint(str(tmp_path)) == str(last)
    # A non-finite checkpoint is refused for loading too.
    state = load_checkpoint_file(str(last))
    state['state_dict']['bases'][0] = float('nan')
    torch.save(state, tmp_path / 'bad.pth')
    runner = make_runner(tmp_path / 'wd2', load_from=str(tmp_path / 'bad.pth'))
    with pytest.raises(CheckpointError, match=r'bad.pth holds NaN/Inf '
                       r"values in 1 tensor\(s\) \(first \['bases'\]\)"):
        runner.load_or_resume()


# Resuming --------------------------------------------------------------
def _assert_same_state(a: dict, b: dict) -> None:
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    state_a, state_b = a['optimizer']['state'], b['optimizer']['state']
    assert state_a.keys() == state_b.keys()
    for idx in state_a:
        assert torch.equal(state_a[idx]['momentum_buffer'],
                           state_b[idx]['momentum_buffer'])
    assert a['param_schedulers'] == b['param_schedulers']
    assert torch.equal(a['meta']['random_state'][0]['torch'],
                       b['meta']['random_state'][0]['torch'])


def test_resume_matches_uninterrupted_run(tmp_path):
    full = make_runner(tmp_path / 'full', max_iters=8, interval=4)
    full.train()
    reference = losses(full)
    assert len(reference) == 8

    # "Killed after iteration 4": only iter_4.pth and last_checkpoint exist.
    killed = tmp_path / 'killed'
    killed.mkdir()
    shutil.copy(tmp_path / 'full' / 'iter_4.pth', killed / 'iter_4.pth')
    (killed / 'last_checkpoint').write_text(str(killed / 'iter_4.pth'))

    resumed = make_runner(killed, max_iters=8, interval=4, resume=True)
    resumed.train()
    assert losses(resumed) == reference  # bit-identical, iterations 1..8
    _assert_same_state(load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
                       load_checkpoint_file(str(killed / 'iter_8.pth')))
    assert torch.equal(full.model.bases, resumed.model.bases)

    # Resume from an explicit path (``--resume PATH``) into a new work dir.
    explicit = make_runner(tmp_path / 'explicit', max_iters=8, interval=4,
                           resume=True,
                           load_from=str(tmp_path / 'full' / 'iter_4.pth'))
    explicit.train()
    assert losses(explicit) == reference
    _assert_same_state(
        load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
        load_checkpoint_file(str(tmp_path / 'explicit/iter_8.pth')))
