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


def _write_report(out):
    folder = ReportFolder(str(out))
    folder.open()
    folder.finish(REPORT, PICTURE)


def test_report_dir_that_holds_other_files_is_refused(tmp_path):
    check_report_dir(str(tmp_path / 'new'))
    check_report_dir(str(tmp_path))  # empty
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(UserError, match='holding other files'):
        check_report_dir(str(tmp_path))
    with pytest.raises(UserError, match='is a file'):
        check_report_dir(str(tmp_path / 'notes.txt'))
    with pytest.raises(UserError, match='is a file'):
        check_report_dir(str(tmp_path / 'notes.txt' / 'report'))
    with pytest.raises(UserError, match='holding other files'):
        ReportFolder(str(tmp_path))  # checked when made
    # the names of a report without its marker are no report
    (tmp_path / 'notes.txt').unlink()
    for name in ('index.html', 'report.json'):
        (tmp_path / name).write_text('')
    with pytest.raises(UserError, match=f'no {report_folder.MARKER}'):
        check_report_dir(str(tmp_path))


@pytest.mark.parametrize('extra', ['notes.txt', 'mine/', 'thumbs/x.txt'])
def test_earlier_report_with_files_of_the_users_is_refused(tmp_path, extra):
    """Only a folder holding nothing but an earlier report is replaced."""
    out = tmp_path / 'report'
    _write_report(out)
    check_report_dir(str(out))  # the report alone: replaced
    if extra.endswith('/'):
        (out / extra).mkdir()
    else:
        (out / extra).write_text('mine')
    before = sorted(str(p) for p in out.rglob('*'))
    with pytest.raises(UserError) as err:
        check_report_dir(str(out))
    message = str(err.value)
    assert message.startswith(f'--report {out} holds an earlier report and '
                              f'other files ({extra})')
    assert '\n' not in message
    with pytest.raises(UserError):
        ReportFolder(str(out))
    assert sorted(str(p) for p in out.rglob('*')) == before


def test_files_added_during_the_run_are_kept(tmp_path):
    out = tmp_path / 'report'
    _write_report(out)
    folder = ReportFolder(str(out))
    folder.open()
    (out / 'notes.txt').write_text('written while the test ran')
    with pytest.raises(UserError, match=r'other files \(notes.txt\)'):
        folder.finish(REPORT, PICTURE)
    assert (out / 'notes.txt').read_text() == 'written while the test ran'
    assert (out / 'index.html').is_file()
    assert os.listdir(tmp_path) == ['report']  # the new one is gone


def test_report_appears_whole_and_replaces_an_earlier_one(tmp_path):
    out = tmp_path / 'report'
    folder = ReportFolder(str(out))
    tmp = folder.open()
    assert sorted(os.listdir(tmp)) == ['full', 'thumbs']
    (tmp_path / 'report_picture').write_text('')  # a neighbour, left alone
    open(os.path.join(tmp, 'thumbs', 'a.jpg'), 'wb').close()
    assert not out.exists()  # nothing before the page is written
    folder.finish(REPORT, PICTURE)
    assert sorted(os.listdir(out)) == [report_folder.MARKER,
                                       'confusion_matrix.png', 'full',
                                       'index.html', 'report.json',
                                       'thumbs']
    listed = (out / report_folder.MARKER).read_text().splitlines()
    assert listed[1:] == sorted([report_folder.MARKER,
                                 'confusion_matrix.png', 'full/',
                                 'index.html', 'report.json', 'thumbs/',
                                 'thumbs/a.jpg'])
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
