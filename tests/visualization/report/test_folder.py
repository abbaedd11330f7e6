"""The report folder: refused when it holds other files, written whole,
an earlier report kept until the new one is complete."""
import json
import os

import numpy as np
import pytest

from emanet.utils.errors import UserError
from emanet.visualization.report import folder as report_folder
from emanet.visualization.report.folder import ReportFolder, check_report_dir

REPORT = dict(title='T', settings={}, metrics={'mIoU': 1.0},
              classes=['road'], palette=[[1, 2, 3]],
              per_class=dict(Class=['road'], IoU=[1.0], Pixels=[100.0]),
              confusion=dict(image='confusion_matrix.png'),
              error_colors={}, images=[])
PICTURE = np.zeros((4, 6, 3), dtype=np.uint8)


def test_report_dir_that_holds_other_files_is_refused(tmp_path):
    check_report_dir(str(tmp_path / 'new'))
    check_report_dir(str(tmp_path))  # empty
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(UserError, match='holding other files'):
        check_report_dir(str(tmp_path))
    with pytest.raises(UserError, match='is a file'):
        check_report_dir(str(tmp_path / 'notes.txt'))
    with pytest.raises(UserError, match='holding other files'):
        ReportFolder(str(tmp_path))  # checked when made
    for name in ('index.html', 'report.json'):
        (tmp_path / name).write_text('')
    check_report_dir(str(tmp_path))  # an earlier report: replaced


def test_report_appears_whole_and_replaces_an_earlier_one(tmp_path):
    out = tmp_path / 'report'
    folder = ReportFolder(str(out))
    tmp = folder.open()
    assert sorted(os.listdir(tmp)) == ['full', 'thumbs']
    (tmp_path / 'report_picture').write_text('')  # a neighbour, left alone
    open(os.path.join(tmp, 'thumbs', 'a.jpg'), 'wb').close()
    assert not out.exists()  # nothing before the page is written
    folder.finish(REPORT, PICTURE)
    assert sorted(os.listdir(out)) == ['confusion_matrix.png', 'full',
                                       'index.html', 'report.json',
                                       'thumbs']
    assert json.loads((out / 'report.json').read_text()) == REPORT
    assert (out / 'thumbs' / 'a.jpg').is_file()
    # a second report replaces the first; nothing temporary is left
    (out / 'index.html').write_text('earlier')
    again = ReportFolder(str(out))
    again.open()
    again.finish(REPORT, PICTURE)
    assert (out / 'index.html').read_text().startswith('<!DOCTYPE html>')
    assert not (out / 'thumbs' / 'a.jpg').exists()
    assert sorted(os.listdir(tmp_path)) == ['report', 'report_picture']


def test_failed_page_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / 'report'
    first = ReportFolder(str(out))
    first.open()
    first.finish(REPORT, PICTURE)
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}

    def broken(report):
        raise RuntimeError('page failed')

    monkeypatch.setattr(report_folder, 'render_page', broken)
    folder = ReportFolder(str(out))
    folder.open()
    with pytest.raises(RuntimeError, match='page failed'):
        folder.finish(REPORT, PICTURE)
    assert {p: p.read_bytes() for p in out.rglob('*')
            if p.is_file()} == before
    assert os.listdir(tmp_path) == ['report']  # the new one is gone
