"""The report folder: checked before the run, written whole or not at all.

Everything goes into a hidden temporary folder beside ``DIR``
(:class:`emanet.utils.atomic_io.AtomicDir`), renamed to ``DIR`` once the
page is written: a failed run leaves no half report and keeps an earlier
one, which the complete new one then replaces.
"""
import json
import os
import os.path as osp
from typing import Any, Dict

import cv2
import numpy as np

from emanet.utils.atomic_io import AtomicDir
from emanet.utils.errors import UserError

from .page import render_page

REPORT_FILES = ('index.html', 'report.json')


def check_report_dir(path: str) -> None:
    """Refuse a ``--report`` folder that holds something else.

    A missing folder, an empty one or an earlier report (``index.html``
    and ``report.json``) may be (re)written.

    Raises:
        UserError: ``path`` is a file, or a folder with other content.
    """
    if not osp.lexists(path):
        return
    if not osp.isdir(path):
        raise UserError(f'--report {path} is a file; give a folder for '
                        'the report')
    names = set(os.listdir(path))
    if names and not set(REPORT_FILES) <= names:
        raise UserError(
            f'--report {path} is a folder holding other files (no '
            'index.html and report.json of an earlier report): give a new '
            'or empty folder')


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
        except BaseException:
            self._writer.discard()
            raise
        self._writer.commit()
