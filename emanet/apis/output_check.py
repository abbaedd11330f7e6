"""Output paths checked before the work: one line naming the path.

The inferencer, ``demo/image_demo.py`` and ``tools/test.py --out-probs``
check where they will write before a model is built or an image read.
"""
import os
import os.path as osp
from typing import Optional, Sequence

from emanet.utils.errors import UserError


def _writable_folder(folder: str, option: str, path: str) -> None:
    """Refuse when ``folder`` (or its nearest existing parent, where it
    will be created) is not a writable folder."""
    existing = osp.abspath(folder or '.')
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise UserError(f'{option} {path}: {existing} is a file, not a '
                        'folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f'{option} {path}: {existing} is not writable')


def check_out_dir(path: str, option: str) -> None:
    """Refuse an output folder that is a file or cannot be created.

    Raises:
        UserError: naming ``option`` and ``path``.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise UserError(f'{option} {path} is a file; give a folder')
    _writable_folder(path, option, path)


def check_out_file(path: str, option: str,
                   suffixes: Optional[Sequence[str]] = None) -> None:
    """Refuse an output file that is a folder, has a suffix not in
    ``suffixes`` or cannot be written.

    Raises:
        UserError: naming ``option`` and ``path``.
    """
    if osp.isdir(path):
        raise UserError(f'{option} {path} is a folder; give a file path')
    suffix = osp.splitext(path)[1].lower()
    if suffixes is not None and suffix not in suffixes:
        raise UserError(f'{option} {path}: {suffix or "no suffix"} is not '
                        f'one of {", ".join(suffixes)}')
    _writable_folder(osp.dirname(path), option, path)
