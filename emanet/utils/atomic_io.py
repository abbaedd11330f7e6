"""Crash-safe writing: a file or a folder appears complete or not at all.

Everything is written under a hidden temporary name in the target's folder
(same file system, so the final rename is atomic), flushed to disk with
``fsync``, renamed, and the rename itself is made durable by an ``fsync``
of the folder. The temporary name holds the writer's process id, so that a
later run removes what a killed process left and spares what a live one is
still writing.
"""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Callable, Iterator, List, Optional

import torch

# Marks a temporary name: ``.<name>.tmp-<pid>`` for a file,
# ``.<name>.tmp-<pid>-<random>`` for a folder. Hidden (leading dot) and not
# ending in the target's suffix, so a file left by a killed process is never
# mistaken for a checkpoint or an image.
TMP_MARK = '.tmp-'


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OSError, OverflowError):
        return False
    return True


def fsync_dir(dirname: str) -> None:
    """Persist a rename (the directory entry) where the OS supports it."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_path_for(path: str) -> str:
    """Hidden temporary name in the same folder (same filesystem)."""
    dirname, base = osp.split(osp.abspath(path))
    return osp.join(dirname, f'.{base}{TMP_MARK}{os.getpid()}')


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path; on success fsync it and rename it to ``path``.

    Readers see either the old file or the complete new one. On an error the
    temporary file is removed and ``path`` is untouched.
    """
    tmp = tmp_path_for(path)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    fsync_dir(osp.dirname(osp.abspath(path)))


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """Write a small text file (e.g. ``last_checkpoint``) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)


def remove_stale_tmp_files(dirname: str) -> List[str]:
    """Delete temporary files left by a process killed during a write.

    Files of a process that still runs (another job saving into the same
    folder) are left alone; this process has no write in flight when it
    calls this, so its own leftovers go too.

    Returns:
        list: The names removed.
    """
    removed = []
    if not osp.isdir(dirname):
        return removed
    for name in os.listdir(dirname):
        if not (name.startswith('.') and TMP_MARK in name):
            continue
        pid = name.rsplit(TMP_MARK, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and \
                process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.remove(osp.join(dirname, name))
            removed.append(name)
    return removed


def _remove_stale_tmp_dirs(parent: str, prefix: str) -> None:
    """Delete ``<prefix><pid>-*`` folders of processes that no longer run.

    A killed writer (SIGKILL cannot be caught) leaves its temporary folder;
    one of a writer still running is left alone.
    """
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        pid, dash, _ = name[len(prefix):].partition('-')
        if dash and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(osp.join(parent, name), ignore_errors=True)


def _fsync_tree(root: str) -> None:
    """fsync every file and folder under ``root`` (folders last)."""
    for dirpath, _, files in os.walk(root, topdown=False):
        for name in files:
            with open(osp.join(dirpath, name), 'rb+') as f:
                os.fsync(f.fileno())
        fsync_dir(dirpath)


@contextlib.contextmanager
def atomic_dir(path: str,
               is_complete: Optional[Callable[[str], bool]] = None
               ) -> Iterator[str]:
    """Yield a temporary folder; on success fsync and rename it to ``path``.

    ``path`` must not exist, or be an empty folder. Temporary folders of
    killed writers of ``path`` are removed first. Readers never see a
    half-written folder: on an error (or a kill) nothing is at ``path``, and
    the temporary folder is removed (by the next writer after a kill).

    Args:
        path (str): The folder to create.
        is_complete (callable, optional): Tells whether a folder found at
            ``path`` when renaming is a complete result of another process
            that finished first; it is then kept and this one dropped.
            Without it, the rename error is raised.
    """
    path = osp.normpath(path)
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    prefix = f'.{osp.basename(path)}{TMP_MARK}'
    _remove_stale_tmp_dirs(parent, prefix)
    # The process id in the name tells a later run whether it is stale.
    tmp = tempfile.mkdtemp(prefix=f'{prefix}{os.getpid()}-', dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        _fsync_tree(tmp)
        try:
            # Atomic; also replaces an empty folder.
            os.rename(tmp, path)
        except OSError:
            if is_complete is None or not is_complete(path):
                raise
        fsync_dir(parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
