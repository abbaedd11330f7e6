"""Crash-safe writing: fsync before the rename, no temporary file left."""
import errno
import os
import stat
import subprocess
import sys

import pytest
import torch

from emanet.utils.atomic_io import (
    AtomicDir,
    atomic_dir,
    atomic_path,
    atomic_save,
    atomic_write_bytes,
    atomic_write_text,
    process_alive,
    remove_stale_tmp_files,
    tmp_path_for,
)


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    """The id of a process that runs while the test does."""
    proc = subprocess.Popen([sys.executable, '-c',
                             'import time; time.sleep(60)'])
    yield proc.pid
    proc.kill()
    proc.wait()


def _record_syscalls(monkeypatch) -> list:
    """Log ``fsync`` (of a file or a folder), ``replace`` and ``rename``."""
    events = []
    fsync, replace, rename = os.fsync, os.replace, os.rename

    def logged_fsync(fd):
        kind = 'dir' if stat.S_ISDIR(os.fstat(fd).st_mode) else 'file'
        events.append(f'fsync {kind}')
        return fsync(fd)

    def logged_replace(src, dst):
        events.append('replace')
        return replace(src, dst)

    def logged_rename(src, dst):
        events.append('rename')
        return rename(src, dst)

    monkeypatch.setattr(os, 'fsync', logged_fsync)
    monkeypatch.setattr(os, 'replace', logged_replace)
    monkeypatch.setattr(os, 'rename', logged_rename)
    return events


def test_file_is_fsynced_before_rename_and_folder_after(tmp_path,
                                                        monkeypatch):
    events = _record_syscalls(monkeypatch)
    path = tmp_path / 'out.bin'
    atomic_write_bytes(str(path), b'new')
    assert events == ['fsync file', 'replace', 'fsync dir']
    assert path.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['out.bin']


def test_temporary_name_is_hidden_and_names_the_process(tmp_path):
    tmp = tmp_path_for(str(tmp_path / 'iter_2.pth'))
    assert os.path.dirname(tmp) == str(tmp_path)
    assert os.path.basename(tmp) == f'.iter_2.pth.tmp-{os.getpid()}'


@pytest.mark.parametrize('where', ['writing', 'fsync'])
def test_failed_write_keeps_old_file_and_leaves_no_temporary(
        tmp_path, monkeypatch, where):
    path = tmp_path / 'last_checkpoint'
    path.write_text('old')

    def full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == 'fsync':
        monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space left'):
        with atomic_path(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            if where == 'writing':
                full_disk()
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_text_and_torch_files(tmp_path):
    atomic_write_text(str(tmp_path / 'last_checkpoint'), 'iter_2.pth')
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_2.pth'
    atomic_save(dict(w=torch.arange(3)), str(tmp_path / 'w.pth'))
    loaded = torch.load(tmp_path / 'w.pth', weights_only=True)
    assert torch.equal(loaded['w'], torch.arange(3))
    assert sorted(os.listdir(tmp_path)) == ['last_checkpoint', 'w.pth']


def test_process_alive(dead_pid):
    assert process_alive(os.getpid())
    assert not process_alive(dead_pid)


def test_stale_tmp_cleanup_spares_live_processes(tmp_path, dead_pid,
                                                 live_pid):
    names = [f'.iter_4.pth.tmp-{live_pid}', f'.iter_2.pth.tmp-{dead_pid}',
             f'.last_checkpoint.tmp-{os.getpid()}']
    for name in names:
        (tmp_path / name).write_bytes(b'partial')
    assert sorted(remove_stale_tmp_files(str(tmp_path))) == \
        sorted(names[1:])
    assert os.listdir(tmp_path) == [names[0]]
    assert remove_stale_tmp_files(str(tmp_path / 'absent')) == []


def test_folder_appears_complete(tmp_path, monkeypatch):
    events = _record_syscalls(monkeypatch)
    out = tmp_path / 'data'
    with atomic_dir(str(out)) as tmp:
        assert os.path.basename(tmp).startswith(f'.data.tmp-{os.getpid()}-')
        assert not out.exists()
        os.makedirs(os.path.join(tmp, 'sub'))
        for name in ('a.txt', 'sub/b.txt'):
            with open(os.path.join(tmp, name), 'w') as f:
                f.write(name)
    assert os.listdir(tmp_path) == ['data']
    assert (out / 'sub' / 'b.txt').read_text() == 'sub/b.txt'
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    # Both files and both folders are on disk before the rename.
    assert sorted(events[:4]) == ['fsync dir'] * 2 + ['fsync file'] * 2
    assert events[4:] == ['rename', 'fsync dir']


def test_failed_folder_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match='generation failed'):
        with atomic_dir(str(tmp_path / 'data')) as tmp:
            with open(os.path.join(tmp, 'a.txt'), 'w') as f:
                f.write('half')
            raise RuntimeError('generation failed')
    assert os.listdir(tmp_path) == []


def test_folder_of_a_killed_writer_is_removed(tmp_path, dead_pid, live_pid):
    dead = tmp_path / f'.data.tmp-{dead_pid}-abc123'
    live = tmp_path / f'.data.tmp-{live_pid}-def456'
    other = tmp_path / f'.other.tmp-{dead_pid}-abc123'
    for folder in (dead, live, other):
        folder.mkdir()
    with atomic_dir(str(tmp_path / 'data')):
        pass
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['data', live.name, other.name])


def test_folder_finished_first_by_another_process(tmp_path):
    out = tmp_path / 'data'

    def finish_first(tmp):
        out.mkdir()
        (out / 'done').write_text('')

    with pytest.raises(OSError):
        with atomic_dir(str(out)) as tmp:
            finish_first(tmp)
    assert os.listdir(tmp_path) == ['data']
    (out / 'done').unlink()
    out.rmdir()
    with atomic_dir(str(out),
                    is_complete=lambda p: os.path.isfile(f'{p}/done')) as tmp:
        finish_first(tmp)
        (tmp_path / os.path.basename(tmp) / 'mine').write_text('')
    assert os.listdir(tmp_path) == ['data']
    assert os.listdir(out) == ['done']


def test_folder_replaces_an_earlier_one_only_when_complete(tmp_path,
                                                          monkeypatch):
    out = tmp_path / 'report'
    out.mkdir()
    (out / 'old.txt').write_text('earlier')
    writer = AtomicDir(str(out), replace=True, fsync_files=False)
    tmp = writer.open()
    (tmp_path / os.path.basename(tmp) / 'new.txt').write_text('new')
    assert os.listdir(out) == ['old.txt']  # until the commit
    events = _record_syscalls(monkeypatch)
    writer.commit()
    # no file fsynced; the earlier folder moved aside, the new one in
    assert events == ['rename', 'rename', 'fsync dir']
    assert os.listdir(out) == ['new.txt']
    assert os.listdir(tmp_path) == ['report']
    assert writer.tmp is None


def test_failed_replace_puts_the_earlier_folder_back(tmp_path, monkeypatch):
    out = tmp_path / 'report'
    out.mkdir()
    (out / 'old.txt').write_text('earlier')
    writer = AtomicDir(str(out), replace=True)
    tmp = writer.open()
    rename = os.rename

    def failing(src, dst):
        if src == tmp:
            raise OSError(errno.EIO, 'rename failed')
        return rename(src, dst)

    monkeypatch.setattr(os, 'rename', failing)
    with pytest.raises(OSError, match='rename failed'):
        writer.commit()
    assert os.listdir(out) == ['old.txt']
    assert os.listdir(tmp_path) == ['report']


def test_open_folder_is_removed_when_discarded_or_at_exit(tmp_path):
    writer = AtomicDir(str(tmp_path / 'data'))
    tmp = writer.open()
    writer.discard()
    assert not os.path.exists(tmp) and os.listdir(tmp_path) == []
    # a folder left open goes when the process exits
    script = ('import sys; from emanet.utils.atomic_io import AtomicDir; '
              'print(AtomicDir(sys.argv[1]).open())')
    left = subprocess.run([sys.executable, '-c', script,
                           str(tmp_path / 'data')], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert left.startswith(str(tmp_path / '.data.tmp-'))
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match='exclude each other'):
        AtomicDir(str(tmp_path / 'x'), replace=True, is_complete=bool)
