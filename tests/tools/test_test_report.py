"""tools/test.py --report on the tiny model: the page's numbers are the
tool's, an earlier report stays until a new one is complete, exported
models in slide mode report too."""
import glob
import json
import os
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from emanet.utils.errors import UserError
from emanet.visualization.report import folder as report_folder

from helpers.tool_loader import load_tool


class _Page(HTMLParser):
    """Collects the tags of a page: their attributes, by tag name."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]


def run_report(tiny_trained, folder, *extra):
    """``tools/test.py`` with ``--report`` on the tiny trained model.

    Returns:
        tuple: (metrics, record of --out-metrics, report.json, page text)
    """
    config, ckpt = tiny_trained
    report_dir = folder / 'report'
    record_file = folder / 'record.json'
    metrics = load_tool('tools/test.py').main([
        config, ckpt, '--work-dir', str(folder / 'work'), '--report',
        str(report_dir), '--out-metrics', str(record_file), *extra])
    with open(record_file) as f:
        record = json.load(f)
    with open(report_dir / 'report.json') as f:
        report = json.load(f)
    page = (report_dir / 'index.html').read_text()
    return metrics, record, report, page


@pytest.mark.slow
def test_tool_report_numbers_equal_the_metrics_and_its_record(
        tiny_trained, tmp_path, capsys):
    metrics, record, report, page = run_report(tiny_trained, tmp_path)
    out = capsys.readouterr().out
    assert f'mIoU: {metrics["mIoU"]:.2f}' in out
    assert report['metrics'] == record['metrics'] == metrics
    table = dict(report['per_class'])
    assert table.pop('Pixels')
    assert table == record['per_class']
    assert report['record']['model_file'] == record['model_file']
    # the set's counts are the images' counts added up
    counts = np.asarray(report['confusion']['counts'])
    assert counts.shape == (19, 19)
    assert sum(im['labelled'] for im in report['images']) == counts.sum()
    assert sum(im['wrong'] for im in report['images']) == \
        counts.sum() - np.trace(counts)
    # the page shows the numbers as the tool prints them
    parser = _Page()
    parser.feed(page)
    rows = [a['data-class'] for a in parser.all('tr') if 'data-class' in a]
    assert rows == table['Class']
    for name, iou in zip(table['Class'], table['IoU']):
        shown = 'n/a' if iou is None else f'{iou:.2f}'
        assert re.search(rf'data-class="{re.escape(name)}"><td[^>]*>'
                         rf'<span[^>]*></span>{re.escape(name)}</td>'
                         rf'<td data-value="[^"]*">{re.escape(shown)}<',
                         page), name
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert f'<b>{metrics[key]:.2f}</b><span>{key}</span>' in page
    # worst first, each card's pictures written
    mious = [im['mIoU'] for im in report['images']]
    assert len(mious) == 2 and mious == sorted(mious)
    cards = [a for a in parser.all('figure') if 'data-name' in a]
    assert [c['data-name'] for c in cards] == \
        [im['name'] for im in report['images']]
    root = tmp_path / 'report'
    images = [a['src'] for a in parser.all('img')]
    assert len(images) == 1 + 4 * 2  # the matrix, 4 panels per image
    for src in images:
        assert (root / src).is_file(), src
    links = [a['href'] for a in parser.all('a')]
    for href in links:
        assert (root / href).resolve().is_file(), href  # originals too
    # nothing temporary left beside the report
    assert sorted(os.listdir(tmp_path)) == ['record.json', 'report', 'work']


@pytest.mark.slow
def test_tool_report_replaces_an_earlier_one_and_keeps_it_on_failure(
        tiny_trained, tmp_path, monkeypatch):
    run_report(tiny_trained, tmp_path)
    first = (tmp_path / 'report' / 'index.html').read_text()
    (tmp_path / 'report' / 'index.html').write_text('earlier')
    run_report(tiny_trained, tmp_path, '--aug-test')
    report = json.loads((tmp_path / 'report' / 'report.json').read_text())
    assert report['record']['aug_test'] is True
    assert '--aug-test' in report['settings']['Mode']
    assert (tmp_path / 'report' / 'index.html').read_text() != 'earlier'
    assert first.count('class="card"') == 2

    def broken(report):
        raise RuntimeError('page failed')

    monkeypatch.setattr(report_folder, 'render_page', broken)
    before = sorted(glob.glob(str(tmp_path / 'report' / '**'),
                              recursive=True))
    with pytest.raises(RuntimeError, match='page failed'):
        run_report(tiny_trained, tmp_path)
    # the earlier report is untouched; the new one never appeared
    assert sorted(glob.glob(str(tmp_path / 'report' / '**'),
                            recursive=True)) == before


@pytest.mark.slow
def test_tool_refuses_a_report_folder_of_other_files_before_testing(
        tiny_trained, tmp_path):
    config, ckpt = tiny_trained
    (tmp_path / 'mine.txt').write_text('x')
    with pytest.raises(UserError, match='holding other files'):
        load_tool('tools/test.py').main([
            config, ckpt, '--work-dir', str(tmp_path / 'work'),
            '--report', str(tmp_path)])
    # refused before the run: no log folder of a test run
    assert not glob.glob(str(tmp_path / 'work' / '*' / '*.log'))


@pytest.mark.slow
def test_tool_report_of_an_exported_model_in_slide_mode(
        tiny_trained, tiny_trained_onnx, tmp_path):
    config, _ = tiny_trained
    onnx_file = tiny_trained_onnx
    slide = ['model.test_cfg.mode=slide', 'model.test_cfg.crop_size=[64,64]',
             'model.test_cfg.stride=[48,48]']
    folder = tmp_path / 'run'
    metrics = load_tool('tools/test.py').main([
        config, onnx_file, '--backend', 'openvino', '--work-dir',
        str(folder / 'work'), '--report', str(folder / 'report'),
        '--out-metrics', str(folder / 'record.json'), '--cfg-options',
        *slide])
    record = json.loads((folder / 'record.json').read_text())
    report = json.loads((folder / 'report' / 'report.json').read_text())
    assert report['metrics'] == metrics
    assert {k: v for k, v in report['per_class'].items()
            if k != 'Pixels'} == record['per_class']
    assert report['record']['backend'] == 'openvino'
    assert report['settings']['Mode'].startswith('slide (crop')
    assert report['settings']['Precision'] == 'float32'
    assert report['settings']['Model file'] == onnx_file
    assert len(report['images']) == 2
