"""SegRunner's checkpoint saving: a save cut short keeps the previous one.

A full disk stops with one line naming the file and the previous checkpoint;
temporary files of a killed save are removed when training resumes.
"""
import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from engine_toy import make_runner
from mmengine.fileio.backends.local_backend import LocalBackend

from emanet.engine.checkpoint_loading import load_checkpoint_file
from emanet.utils.errors import UserError, WorkDirError

ENGINE_DIR = os.path.dirname(__file__)
REPO = os.path.dirname(os.path.dirname(ENGINE_DIR))


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
    with open(work_dir / 'last_checkpoint') as f:
        last = f.read().strip()
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
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, ENGINE_DIR]))
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
