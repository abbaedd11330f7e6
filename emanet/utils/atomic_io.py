"""Crash-safe writing: a file or a folder appears complete or not at all.

Everything is written under a hidden temporary name in the target's folder
(same file system, so the final rename is atomic), flushed to disk with
``fsync``, renamed, and the rename itself is made durable by an ``fsync``
of the folder. The temporary name holds the writer's process id, so that a
later run removes what a killed process left and spares what a live one is
still writing. Files go through :func:`atomic_path`, folders through
:class:`AtomicDir` (:func:`atomic_dir` for a new one), the one folder
writer (demo data, evaluation reports).
"""
import atexit
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


class AtomicDir:
    """A folder written under a temporary name, renamed when complete.

    :meth:`open` removes the temporary folders of killed writers of
    ``path`` and makes a new one beside ``path`` (same file system);
    :meth:`commit` renames it to ``path``, :meth:`discard` removes it.
    Readers never see a half-written folder: before the commit nothing new
    is at ``path``. A folder left open when the process exits is removed
    then (or, after a kill, by the next writer). As a context manager it
    yields the temporary folder and commits on success, discards on an
    error.

    Several processes may write into the temporary folder; one of them
    opens and commits it.

    Args:
        path (str): The folder to create.
        replace (bool): Replace a folder already at ``path`` (whatever it
            holds: the caller has checked it). It stays as it was until the
            new one is complete, and comes back if the rename fails.
            Without it ``path`` must not exist, or be an empty folder.
        is_complete (callable, optional): Tells whether a folder found at
            ``path`` when renaming is a complete result of another process
            that finished first; it is then kept and this one dropped.
            Without it, the rename error is raised. Not with ``replace``.
        fsync_files (bool): fsync every file and folder before the rename,
            so the folder is complete on disk after a power loss too. Off
            for many files that can be made again (the rename alone keeps
            half a folder from readers).
    """

    def __init__(self,
                 path: str,
                 replace: bool = False,
                 is_complete: Optional[Callable[[str], bool]] = None,
                 fsync_files: bool = True) -> None:
        if replace and is_complete is not None:
            raise ValueError('replace and is_complete exclude each other')
        self.path = osp.normpath(path)
        self.replace = replace
        self.is_complete = is_complete
        self.fsync_files = fsync_files
        self.parent = osp.dirname(osp.abspath(self.path))
        self.prefix = f'.{osp.basename(self.path)}{TMP_MARK}'
        self.tmp: Optional[str] = None

    def open(self) -> str:
        """Make the temporary folder; returns its path."""
        os.makedirs(self.parent, exist_ok=True)
        _remove_stale_tmp_dirs(self.parent, self.prefix)
        # The process id in the name tells a later run whether it is stale.
        self.tmp = tempfile.mkdtemp(prefix=f'{self.prefix}{os.getpid()}-',
                                    dir=self.parent)
        atexit.register(self.discard)
        return self.tmp

    def commit(self) -> None:
        """Rename the temporary folder to ``path`` (see the class)."""
        if self.tmp is None:
            raise RuntimeError(f'{self.path}: nothing open to commit')
        try:
            os.chmod(self.tmp, 0o755)  # mkdtemp makes it private
            if self.fsync_files:
                _fsync_tree(self.tmp)
            if self.replace and osp.lexists(self.path):
                self._replace()
            else:
                self._rename()
            fsync_dir(self.parent)
        finally:
            self.discard()

    def _rename(self) -> None:
        try:
            # Atomic; also replaces an empty folder.
            os.rename(self.tmp, self.path)
        except OSError:
            if self.is_complete is None or not self.is_complete(self.path):
                raise

    def _replace(self) -> None:
        """Move the earlier folder aside, rename, then drop the earlier."""
        # Named like a temporary folder: removed as stale after a kill.
        aside = tempfile.mkdtemp(prefix=f'{self.prefix}{os.getpid()}-old-',
                                 dir=self.parent)
        try:
            earlier = osp.join(aside, 'earlier')
            os.rename(self.path, earlier)
            try:
                os.rename(self.tmp, self.path)
            except BaseException:
                os.rename(earlier, self.path)
                raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def discard(self) -> None:
        """Remove the temporary folder (nothing when none is open)."""
        atexit.unregister(self.discard)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> str:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_dir(path: str,
               is_complete: Optional[Callable[[str], bool]] = None
               ) -> AtomicDir:
    """Write a new folder crash-safely: ``with atomic_dir(path) as tmp:``.

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

    Returns:
        AtomicDir: enter it for the temporary folder.
    """
    return AtomicDir(path, is_complete=is_complete)
