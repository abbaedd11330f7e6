"""The evaluation report of ``tools/test.py --report``: its numbers, its
pictures, its page, and the tool writing it on the tiny model."""
import glob
import json
import os
import os.path as osp
import re
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
import torch
from tiny_trained import tiny_trained
from tool_loader import load_tool

from emanet.engine.hooks.report_hook import check_report_dir
from emanet.evaluation import IoUMetric
from emanet.evaluation.iou import confusion_counts
from emanet.utils.errors import UserError
from emanet.visualization.report.collect import (
    class_table,
    summarize_image,
    worst_first,
)
from emanet.visualization.report.page import render_page
from emanet.visualization.report.thumbnails import (
    IGNORED_RGB,
    RIGHT_RGB,
    WRONG_RGB,
    write_panels,
)

CLASSES = ['road', 'car', 'rider']


def test_image_summary_names_worst_classes():
    gt = torch.tensor([[0, 0, 0, 0],
                       [1, 1, 255, 255]])
    pred = torch.tensor([[0, 0, 1, 1],
                         [1, 0, 2, 2]])
    counts = confusion_counts(pred, gt, 3, 255)
    # rows ground truth, columns prediction; the 255 pixels are left out
    np.testing.assert_array_equal(counts, [[2, 2, 0], [1, 1, 0], [0, 0, 0]])
    stats = summarize_image(counts, CLASSES)
    # road: 2 / (4 + 3 - 2), car: 1 / (2 + 3 - 1); rider in neither
    assert stats['iou'] == {0: 40.0, 1: 25.0}
    assert stats['mIoU'] == 32.5
    assert stats['labelled'] == 6 and stats['wrong'] == 3
    # lowest IoU first; road: 2 missed + 1 extra, car: 1 missed + 2 extra
    assert stats['worst'] == [{'class': 'car', 'iou': 25.0, 'wrong': 3},
                              {'class': 'road', 'iou': 40.0, 'wrong': 3}]
    # equal IoUs: more wrong pixels first
    tie = summarize_image(np.array([[1, 1, 0], [0, 2, 0], [0, 1, 0]]),
                          CLASSES)
    assert tie['iou'][0] == tie['iou'][1] == 50.0
    assert [w['class'] for w in tie['worst']] == ['rider', 'car', 'road']


def test_image_without_labelled_pixels_has_no_miou_and_goes_last():
    empty = summarize_image(np.zeros((3, 3), dtype=np.int64), CLASSES)
    assert empty['mIoU'] is None and empty['iou'] == {}
    perfect = summarize_image(np.diag([5, 0, 1]), CLASSES)
    assert perfect['mIoU'] == 100.0 and perfect['worst'] == []
    images = [dict(name='a', **perfect), dict(name='b', **empty),
              dict(name='c', mIoU=12.5), dict(name='d', mIoU=100.0)]
    assert [im['name'] for im in worst_first(images)] == ['c', 'a', 'd', 'b']


def test_class_table_equals_the_metric_table(tmp_path):
    rng = np.random.default_rng(0)
    hist = rng.integers(0, 1000, (3, 3))
    hist[2] = 0  # a class without ground truth: Acc NaN
    hist[:, 2] = 0  # ... nor predictions: IoU NaN too
    metric = IoUMetric(iou_metrics=['mIoU', 'mDice'],
                       per_class_file=str(tmp_path / 'per_class.json'))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.summarize(hist)
    with open(tmp_path / 'per_class.json') as f:
        expected = json.load(f)
    table = class_table(hist, CLASSES, ['mIoU', 'mDice'])
    pixels = table.pop('Pixels')
    assert table == expected
    assert table['IoU'][2] is None
    assert pixels[2] == 0.0 and sum(pixels) == pytest.approx(100, abs=0.02)
    assert pixels[0] == round(hist[0].sum() / hist.sum() * 100, 2)


def test_panels_are_thumbnails_and_full_size_maps(tmp_path):
    for sub in ('thumbs', 'full'):
        os.makedirs(tmp_path / sub)
    gt = np.zeros((40, 800), dtype=np.uint8)
    gt[:, 400:] = 1
    gt[:, 700:] = 255  # ignored
    pred = gt.copy()
    pred[:, 400:500] = 0  # wrong
    pred[:, 700:] = 2  # under ignored pixels: neither right nor wrong
    image = np.full((40, 800, 3), 200, dtype=np.uint8)
    palette = [[128, 64, 128], [0, 0, 142], [255, 0, 0]]
    files = write_panels(str(tmp_path), 'img', image, gt, pred, palette,
                         255, max_width=160)
    for key in ('image', 'gt', 'pred', 'error'):
        thumb = cv2.imread(str(tmp_path / files[key]))
        assert thumb.shape == (8, 160, 3), key
    error = cv2.imread(str(tmp_path / files['error_full']))[..., ::-1]
    assert error.shape == (40, 800, 3)
    assert tuple(error[0, 0]) == RIGHT_RGB
    assert tuple(error[0, 450]) == WRONG_RGB
    assert tuple(error[0, 750]) == IGNORED_RGB
    pred_full = cv2.imread(str(tmp_path / files['pred_full']))[..., ::-1]
    assert tuple(pred_full[0, 450]) == tuple(palette[0])
    assert tuple(pred_full[0, 600]) == tuple(palette[1])
    gt_full = cv2.imread(str(tmp_path / files['gt_full']))[..., ::-1]
    assert tuple(gt_full[0, 750]) == (0, 0, 0)  # ignored: black
    # the wrong band is red in the error thumbnail, the rest is not
    thumb = cv2.imread(str(tmp_path / files['error']))[..., ::-1]
    red = thumb[4, 85].astype(int)
    assert red[0] > 150 and red[1] < 80
    assert abs(int(thumb[4, 10, 0]) - int(thumb[4, 10, 1])) < 20  # grey


class _Page(HTMLParser):
    """Collects the tags of a page: their attributes, by tag name."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]


def _report(images):
    return dict(
        title='T', settings={'Config': 'a<b>.py'}, metrics={'mIoU': 41.5},
        classes=['road', 'car <&>'], palette=[[1, 2, 3], [4, 5, 6]],
        per_class=dict(Class=['road', 'car <&>'], IoU=[50.0, None],
                       Acc=[60.0, None], Pixels=[100.0, 0.0]),
        confusion=dict(image='confusion_matrix.png',
                       most_confused=[['road', 'car <&>', 12.5]]),
        error_colors={'wrong': [230, 25, 75]}, images=images)


def _image(name, miou, iou):
    files = {k: f'thumbs/{name}_{k}.png' for k in (
        'image', 'gt', 'pred', 'error', 'gt_full', 'pred_full',
        'error_full')}
    return dict(name=name, mIoU=miou, iou=iou, worst=[], files=files,
                img_link='../data/' + name + ' 1.png')


def test_page_is_self_contained_escaped_and_in_the_given_order():
    page = render_page(_report([_image('b', 10.0, {0: 10.0}),
                                _image('a', None, {})]))
    parser = _Page()
    parser.feed(page)
    # nothing from the network: only relative links and inline data
    for tag, attrs in parser.tags:
        for key in ('src', 'href'):
            value = attrs.get(key)
            if value is not None:
                assert not re.match(r'^[a-z]+://|^//', value), (tag, value)
    assert not parser.all('link') or all(
        a['href'].startswith('data:') for a in parser.all('link'))
    assert all('src' not in a for a in parser.all('script'))
    # names escaped, not markup
    assert 'car &lt;&amp;&gt;' in page and 'car <&>' not in page
    assert 'a&lt;b&gt;.py' in page
    rows = [a for a in parser.all('tr') if 'data-class' in a]
    assert [r['data-class'] for r in rows] == ['road', 'car <&>']
    cards = [a for a in parser.all('figure') if 'data-name' in a]
    assert [c['data-name'] for c in cards] == ['b', 'a']
    assert json.loads(cards[0]['data-iou']) == {'0': 10.0}
    assert cards[1]['data-miou'] == 'n/a'
    # a space in a linked path is escaped in the URL
    assert any(a.get('href') == '../data/b%201.png' for a in parser.all('a'))
    assert '50.00' in page and 'n/a' in page and '41.50' in page


def test_report_dir_that_holds_other_files_is_refused(tmp_path):
    check_report_dir(str(tmp_path / 'new'))
    check_report_dir(str(tmp_path))  # empty
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(UserError, match='holding other files'):
        check_report_dir(str(tmp_path))
    with pytest.raises(UserError, match='is a file'):
        check_report_dir(str(tmp_path / 'notes.txt'))
    for name in ('index.html', 'report.json'):
        (tmp_path / name).write_text('')
    check_report_dir(str(tmp_path))  # an earlier report: replaced


def run_report(tmp_path_factory, demo_data_root, folder, *extra):
    """``tools/test.py`` with ``--report`` on the tiny trained model.

    Returns:
        tuple: (metrics, record of --out-metrics, report.json, page text)
    """
    config, ckpt = tiny_trained(tmp_path_factory, demo_data_root)
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
        tmp_path_factory, demo_data_root, tmp_path, capsys):
    metrics, record, report, page = run_report(
        tmp_path_factory, demo_data_root, tmp_path)
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
        tmp_path_factory, demo_data_root, tmp_path, monkeypatch):
    run_report(tmp_path_factory, demo_data_root, tmp_path)
    first = (tmp_path / 'report' / 'index.html').read_text()
    (tmp_path / 'report' / 'index.html').write_text('earlier')
    run_report(tmp_path_factory, demo_data_root, tmp_path, '--aug-test')
    report = json.loads((tmp_path / 'report' / 'report.json').read_text())
    assert report['record']['aug_test'] is True
    assert '--aug-test' in report['settings']['Mode']
    assert (tmp_path / 'report' / 'index.html').read_text() != 'earlier'
    assert first.count('class="card"') == 2

    import emanet.visualization.report.page as page

    def broken(report):
        raise RuntimeError('page failed')

    monkeypatch.setattr(page, 'render_page', broken)
    before = sorted(glob.glob(str(tmp_path / 'report' / '**'),
                              recursive=True))
    with pytest.raises(RuntimeError, match='page failed'):
        run_report(tmp_path_factory, demo_data_root, tmp_path)
    # the earlier report is untouched; the new one never appeared
    assert sorted(glob.glob(str(tmp_path / 'report' / '**'),
                            recursive=True)) == before


@pytest.mark.slow
def test_tool_refuses_a_report_folder_of_other_files_before_testing(
        tmp_path_factory, demo_data_root, tmp_path):
    config, ckpt = tiny_trained(tmp_path_factory, demo_data_root)
    (tmp_path / 'mine.txt').write_text('x')
    with pytest.raises(UserError, match='holding other files'):
        load_tool('tools/test.py').main([
            config, ckpt, '--work-dir', str(tmp_path / 'work'),
            '--report', str(tmp_path)])
    # refused before the run: no log folder of a test run
    assert not glob.glob(str(tmp_path / 'work' / '*' / '*.log'))


@pytest.mark.slow
def test_tool_report_of_an_exported_model_in_slide_mode(
        tmp_path_factory, demo_data_root, tmp_path):
    config, ckpt = tiny_trained(tmp_path_factory, demo_data_root)
    onnx_file = str(tmp_path / 'tiny.onnx')
    assert load_tool('tools/deployment/pytorch2onnx.py').main(
        [config, ckpt, '--output-file', onnx_file,
         '--dynamic-export']) == 0
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


def _maps(i: int):
    """Ground truth and prediction ``[8, 16]`` of test image ``i``."""
    gt = torch.full((8, 16), i, dtype=torch.int64)
    gt[:, 12:] = 255
    pred = torch.zeros_like(gt)
    pred[4:] = 2
    return gt, pred


def _report_ranks(rank: int, out_dir: str) -> None:
    """One rank of a 2-process test of 3 images, as the sampler deals
    them: rank 0 gets images 0 and 2, rank 1 image 1 and image 0 again
    (padding)."""
    from types import SimpleNamespace

    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.structures import PixelData

    from emanet.engine.hooks.report_hook import ReportHook
    from emanet.structures import SegDataSample

    samples = []
    for i in range(3):
        gt, pred = _maps(i)
        sample = SegDataSample(metainfo=dict(
            img_path=osp.join(out_dir, f'img{i}.png')))
        sample.gt_sem_seg = PixelData(data=gt[None])
        sample.pred_sem_seg = PixelData(data=pred[None])
        samples.append(sample)
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=_Sized(3)),
        test_evaluator=SimpleNamespace(metrics=[IoUMetric()]),
        model=torch.nn.Conv2d(1, 1, 1), cfg=Config(dict(load_from=None)),
        logger=MMLogger.get_instance(f'report_rank{rank}'),
        timestamp='t')
    hook = ReportHook(osp.join(out_dir, 'report'),
                      settings=dict(config='c.py', model_file='m.pth'))
    hook.before_test(runner)
    mine = [samples[0], samples[2]] if rank == 0 else [samples[1],
                                                       samples[0]]
    for batch, sample in enumerate(mine):
        hook.after_test_iter(runner, batch, outputs=[sample])
    hook.after_test_epoch(runner, metrics={'mIoU': 12.5})


class _Sized:
    """A data set stand-in: ``metainfo`` and a length."""

    def __init__(self, size):
        self.metainfo = dict(classes=CLASSES)
        self.size = size

    def __len__(self):
        return self.size


@pytest.mark.slow
def test_two_processes_write_one_report_of_each_image_once(tmp_path):
    from processes import run_two_gloo_processes
    for i in range(3):
        cv2.imwrite(str(tmp_path / f'img{i}.png'),
                    np.full((8, 16, 3), 60 * i, dtype=np.uint8))
    run_two_gloo_processes(_report_ranks, str(tmp_path))
    report = json.loads((tmp_path / 'report' / 'report.json').read_text())
    # every image once (the padded repeat dropped), the counts of all three
    assert sorted(im['name'] for im in report['images']) == \
        ['img0', 'img1', 'img2']
    counts = np.asarray(report['confusion']['counts'])
    expected = sum(confusion_counts(_maps(i)[1], _maps(i)[0], 3, 255)
                   for i in range(3))
    np.testing.assert_array_equal(counts, expected)
    assert report['metrics'] == {'mIoU': 12.5}
    for im in report['images']:
        for path in im['files'].values():
            assert (tmp_path / 'report' / path).is_file(), path
    # nothing temporary left beside the report
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]
