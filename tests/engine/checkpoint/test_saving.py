"""Saving: a save cut short keeps the previous checkpoint (a full disk
stops with one line naming the file and the previous checkpoint; temporary
files of a killed save are removed when training resumes); a state holding
NaN/Inf is never saved; the file holds what every hook left in it."""
import errno
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook

from emanet.engine.checkpoint.last_checkpoint import (
    last_saved_checkpoint,
    read_last_checkpoint,
)
from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.engine.checkpoint.saving import check_finite
from emanet.utils.errors import (
    CheckpointError,
    TrainingDivergedError,
    UserError,
    WorkDirError,
)

from helpers.engine_toy import make_runner
from helpers.tool_loader import REPO

# The script run in a subprocess imports this module (tests/engine/
# checkpoint) and helpers.engine_toy (from tests/).
HERE = osp.dirname(osp.abspath(__file__))
TESTS_DIR = osp.join(REPO, 'tests')


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
        from helpers.engine_toy import make_runner
        from test_saving import _half_write_put
        LocalBackend.put = _half_write_put(
            lambda: os.kill(os.getpid(), signal.SIGKILL))
        make_runner({str(tmp_path / "wd")!r}, max_iters=4, interval=2,
                    max_keep_ckpts=1).train()
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, HERE, TESTS_DIR]))
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


class _EditCheckpoint(Hook):
    """A config's hook editing the checkpoint at the lowest priority."""

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['meta']['edited_by'] = 'custom hook'


def test_file_holds_what_every_hook_left(tmp_path):
    runner = make_runner(tmp_path, max_iters=2, interval=2,
                         custom_hooks=[_EditCheckpoint()])
    runner.train()
    saved = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))
    assert saved['meta']['edited_by'] == 'custom hook'
    assert saved['meta']['iter'] == 2
    # mmengine's layout, plus every rank's random state.
    assert set(saved) == {'meta', 'state_dict', 'message_hub', 'optimizer',
                          'param_schedulers'}
    assert {'epoch', 'iter', 'cfg', 'seed', 'experiment_name', 'time',
            'mmengine_version', 'dataset_meta'} <= set(saved['meta'])
    assert len(saved['meta']['random_state']) == 1
    assert torch.equal(saved['state_dict']['linear.weight'],
                       runner.model.linear.weight.detach())
    assert last_saved_checkpoint(runner) == str(tmp_path / 'iter_2.pth')


def test_best_checkpoint_is_not_the_last_complete_one(tmp_path):
    runner = make_runner(tmp_path, max_iters=2, interval=2)
    runner.train()
    runner.save_checkpoint(str(tmp_path), 'best_x_iter_2.pth',
                           save_optimizer=False, save_param_scheduler=False,
                           by_epoch=False)
    assert load_checkpoint_file(str(tmp_path / 'best_x_iter_2.pth'))
    # Only a training checkpoint the record names is resumed from.
    assert last_saved_checkpoint(runner) == str(tmp_path / 'iter_2.pth')
    assert read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')


def test_check_finite_names_the_first_rank_with_nan():
    states = [({}, []), ({}, ['bases', 'a', 'b', 'c'])]
    check_finite([({}, [])], 'wd/iter_2.pth', None)
    with pytest.raises(TrainingDivergedError) as err:
        check_finite(states, 'wd/iter_2.pth', 'wd/iter_1.pth')
    assert str(err.value).startswith(
        "Training diverged: the model holds NaN/Inf in 4 tensor(s) (first "
        "['bases', 'a', 'b']; BatchNorm statistics and EMA bases count "
        'too), so wd/iter_2.pth was not saved. The last finite checkpoint '
        'is wd/iter_1.pth')
