"""The report folder: checked before the run, written whole or not at all.

Everything goes into a hidden temporary folder beside ``DIR``
(:class:`emanet.utils.atomic_io.AtomicDir`), renamed to ``DIR`` once the
page is written: a failed run leaves no half report and keeps an earlier
one, which the complete new one then replaces.

A report replaces the whole folder, so only a folder that holds nothing
but an earlier report is replaced. Every report lists its files in its own
marker file (:data:`MARKER`); a folder whose files are all in its marker's
list is an earlier report, anything else (a file of the user's, a
sub-folder, a folder without a marker) is refused in one line.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Set

import cv2
import numpy as np

from emanet.utils.atomic_io import AtomicDir
from emanet.utils.errors import UserError
from emanet.utils.output_paths import check_output_dir

from .page import render_page

#: The marker file of a report: what wrote it, then its files, one
#: relative path a line (folders end in ``/``).
MARKER = '.emanet-report'
MARKER_HEADER = ('# written by tools/test.py --report; a new report to this '
                 'folder replaces the files listed below')


def _entries(folder: str) -> Set[str]:
    """Every file and folder under ``folder``, relative, folders with a
    trailing ``/``."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = osp.relpath(dirpath, folder)
        prefix = '' if rel == '.' else rel.replace(os.sep, '/') + '/'
        found.update(f'{prefix}{name}/' for name in dirnames)
        found.update(f'{prefix}{name}' for name in filenames)
    return found


def _listed(folder: str) -> Optional[Set[str]]:
    """The entries the marker of ``folder`` lists; None without one."""
    try:
        with open(osp.join(folder, MARKER), encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != MARKER_HEADER:
        return None
    return set(lines[1:]) | {MARKER}


def _names(entries: Set[str], limit: int = 3) -> str:
    shown: List[str] = sorted(entries)[:limit]
    more = len(entries) - len(shown)
    return ', '.join(shown) + (f' and {more} more' if more else '')


def check_report_dir(path: str) -> None:
    """Refuse a ``--report`` folder that holds something else.

    A missing folder, an empty one or an earlier report (every file listed
    in its :data:`MARKER`) may be (re)written.

    Raises:
        UserError: ``path`` is a file, cannot be written, or is a folder
            with other content (files of the user's beside an earlier
            report too).
    """
    check_output_dir(path, '--report')
    if not osp.isdir(path) or not os.listdir(path):
        return
    listed = _listed(path)
    if listed is None:
        raise UserError(
            f'--report {path} is a folder holding other files (not an '
            f'earlier report: no {MARKER} listing its files); give a new '
            'or empty folder')
    others = _entries(path) - listed
    if others:
        raise UserError(
            f'--report {path} holds an earlier report and other files '
            f'({_names(others)}); a new report replaces the whole folder, '
            'so move them out or give another folder')


class ReportFolder:
    """One report folder, written by one process, pictures by all.

    Args:
        out_dir: the report folder (checked by :func:`check_report_dir`).
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = osp.abspath(out_dir)
        check_report_dir(self.out_dir)
        # Thousands of pictures that a rerun makes again: renamed as a
        # whole, not fsynced one by one.
        self._writer = AtomicDir(self.out_dir, replace=True,
                                 fsync_files=False)

    def open(self) -> str:
        """Make the temporary folder (with ``thumbs/`` and ``full/``) that
        every process writes its pictures into; returns its path."""
        tmp = self._writer.open()
        for sub in ('thumbs', 'full'):
            os.makedirs(osp.join(tmp, sub))
        return tmp

    def finish(self, report: Dict[str, Any], picture: np.ndarray) -> None:
        """Write the page, its numbers and the confusion matrix picture,
        then put the folder in place (the temporary one is removed if
        anything fails).

        Args:
            report: the report (:func:`~.build.build_report`).
            picture: ``[H, W, 3]`` RGB confusion matrix.
        """
        tmp = self._writer.tmp
        try:
            ok, png = cv2.imencode('.png',
                                   np.ascontiguousarray(picture[..., ::-1]))
            if not ok:
                raise RuntimeError('cannot encode the confusion matrix '
                                   'picture')
            with open(osp.join(tmp, report['confusion']['image']),
                      'wb') as f:
                f.write(png.tobytes())
            with open(osp.join(tmp, 'report.json'), 'w',
                      encoding='utf-8') as f:
                json.dump(report, f, indent=1)
            with open(osp.join(tmp, 'index.html'), 'w',
                      encoding='utf-8') as f:
                f.write(render_page(report))
            entries = sorted(_entries(tmp) | {MARKER})
            with open(osp.join(tmp, MARKER), 'w', encoding='utf-8') as f:
                f.write('\n'.join([MARKER_HEADER, *entries]) + '\n')
            # files the user put into the folder during the run
            check_report_dir(self.out_dir)
        except BaseException:
            self._writer.discard()
            raise
        self._writer.commit()
