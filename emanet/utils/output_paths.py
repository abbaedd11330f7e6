"""Output paths checked before any work: the one check every tool uses.

A tool that writes a file or a folder calls :func:`check_output_file` or
:func:`check_output_dir` on it at its start, before the model or the data
are loaded, so that a path it cannot write is named in one line instead
of a traceback after minutes of work. The checks create nothing: where the
path (or its folder) does not exist yet, the nearest existing folder above
it is probed by creating and removing a temporary file there, since
permission bits do not stop root, while a read-only file system or a
pseudo file system (``/proc``) still does.
"""
import errno
import os
import os.path as osp
from typing import Optional, Sequence

from .atomic_io import tmp_path_for
from .errors import OutputPathError


def os_reason(err: OSError) -> str:
    """What an ``OSError`` of a write means, in words."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return 'the disk is full (or the quota is used up)'
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 'no permission to write there (or a read-only file system)'
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        return 'a file, not a folder, has that name (or one above it)'
    if err.errno == errno.ENOENT:
        return 'files cannot be created there (not a regular file system)'
    return err.strerror or str(err)


def probe_folder(folder: str) -> None:
    """Create and remove a temporary file in the existing ``folder``.

    Raises:
        OSError: the file cannot be created (or written).
    """
    probe = tmp_path_for(osp.join(folder, 'write-test'))
    with open(probe, 'wb') as f:
        f.write(b'0')
    os.remove(probe)


def _nearest_existing(path: str) -> str:
    """``path`` or the nearest folder (or file) above it that exists."""
    path = osp.abspath(path)
    while not osp.lexists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_writable_below(path: str, option: str, shown: str) -> None:
    """The nearest existing path above ``path`` is a writable folder."""
    existing = _nearest_existing(path)
    if not osp.isdir(existing):
        raise OutputPathError(
            f'{option} {shown}: {existing} is a file, not a folder; '
            f'choose a path under a folder')
    try:
        probe_folder(existing)
    except OSError as err:
        raise OutputPathError(
            f'{option} {shown}: cannot write in {existing}: '
            f'{os_reason(err)} [{type(err).__name__}: {err}]; choose a '
            'writable place') from err


def check_output_file(path: str,
                      option: str,
                      suffixes: Optional[Sequence[str]] = None,
                      what: str = 'file',
                      folder_must_exist: bool = False) -> str:
    """Refuse an output file path that cannot be written.

    Args:
        path (str): The file the tool will write.
        option (str): The option that gave it, named in the message
            (``'--output-file'``, ``'OUT_FILE'``).
        suffixes (Sequence[str], optional): The extensions (lower case,
            with the dot) of the formats the tool can write, where it picks
            the writer by the extension.
        what (str): What the file is, in the message on an unknown
            extension (``'unknown video type .mkv'``).
        folder_must_exist (bool): The tool writes into an existing folder
            only (it does not create the folders above the file).

    Returns:
        str: ``path``.

    Raises:
        OutputPathError: One line naming the option and the path: an
            unknown extension, a folder at ``path``, a missing folder
            (with ``folder_must_exist``), a file where a folder above it
            should be, or a place where nothing can be written.
    """
    if osp.isdir(path):
        raise OutputPathError(f'{option} {path} is a folder; give a file '
                              'path')
    if suffixes is not None:
        ext = osp.splitext(path)[1].lower()
        if ext not in suffixes:
            raise OutputPathError(
                f'{option} {path}: unknown {what} type {ext or "(none)"}; '
                f'use one of {", ".join(sorted(suffixes))}')
    folder = osp.dirname(osp.abspath(path))
    if folder_must_exist and not osp.lexists(folder):
        raise OutputPathError(f'{option} {path}: folder {folder} does not '
                              'exist')
    _check_writable_below(folder, option, path)
    return path


def check_output_dir(path: str, option: str) -> str:
    """Refuse an output folder that cannot be created or written.

    A folder that does not exist yet passes where the folder above it can
    be written (the tool creates it).

    Args:
        path (str): The folder the tool will write into.
        option (str): The option that gave it, named in the message.

    Returns:
        str: ``path``.

    Raises:
        OutputPathError: One line naming the option and the path: a file
            at ``path`` or above it, or a place where nothing can be
            written.
    """
    if osp.lexists(path) and not osp.isdir(path):
        raise OutputPathError(f'{option} {path} is a file, not a folder; '
                              'give a folder')
    _check_writable_below(path, option, path)
    return path
