"""ReportHook: the test's batches in, one report out, from any number of
processes; the scores are the test metric's own table."""
import json
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import PixelData

from emanet.engine.hooks.report_hook import ReportHook
from emanet.evaluation import IoUMetric
from emanet.evaluation.iou import confusion_counts
from emanet.structures import SegDataSample
from emanet.utils.errors import UserError

CLASSES = ['road', 'car', 'rider']


def _maps(i: int):
    """Ground truth and prediction ``[8, 16]`` of test image ``i``."""
    gt = torch.full((8, 16), i, dtype=torch.int64)
    gt[:, 12:] = 255
    pred = torch.zeros_like(gt)
    pred[4:] = 2
    return gt, pred


def _samples(out_dir: str, count: int = 3) -> list:
    samples = []
    for i in range(count):
        gt, pred = _maps(i)
        sample = SegDataSample(metainfo=dict(
            img_path=osp.join(out_dir, f'img{i}.png')))
        sample.gt_sem_seg = PixelData(data=gt[None])
        sample.pred_sem_seg = PixelData(data=pred[None])
        samples.append(sample)
    return samples


class _Sized:
    """A data set stand-in: ``metainfo`` and a length."""

    def __init__(self, size):
        self.metainfo = dict(classes=CLASSES)
        self.size = size

    def __len__(self):
        return self.size


def _runner(metric: IoUMetric, name: str) -> SimpleNamespace:
    """What the hook reads of a Runner."""
    return SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=_Sized(3)),
        test_evaluator=SimpleNamespace(metrics=[metric]),
        model=torch.nn.Conv2d(1, 1, 1), cfg=Config(dict(load_from=None)),
        logger=MMLogger.get_instance(name), timestamp='t')


def _write_images(folder) -> None:
    for i in range(3):
        cv2.imwrite(str(folder / f'img{i}.png'),
                    np.full((8, 16, 3), 60 * i, dtype=np.uint8))


def test_report_takes_the_settings_and_the_metric_table(tmp_path):
    _write_images(tmp_path)
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    runner = _runner(metric, 'report_one')
    hook = ReportHook(str(tmp_path / 'report'), settings=dict(
        config='c.py', model_file='m.pth', mode='whole', other='x'))
    hook.before_test(runner)
    for batch, sample in enumerate(_samples(str(tmp_path))):
        metric.process({}, [sample.to_dict()])
        hook.after_test_iter(runner, batch, outputs=[sample])
    metrics = metric.evaluate(3)
    hook.after_test_epoch(runner, metrics=metrics)
    report = json.loads((tmp_path / 'report' / 'report.json').read_text())
    table = dict(report['per_class'])
    assert table.pop('Pixels') == [33.33] * 3  # 96 pixels each
    assert table == report['record']['per_class'] == metric.per_class
    assert report['metrics'] == metrics
    record = report['record']
    assert (record['config'], record['model_file'], record['mode']) == \
        ('c.py', 'm.pth', 'whole')
    assert record['backend'] is None and 'other' not in record
    assert record['num_images'] == 3 and record['timestamp'] == 't'
    assert report['settings']['Mode'] == 'whole'
    # nothing temporary left beside the report
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]


def test_a_sample_without_labels_is_refused(tmp_path):
    _write_images(tmp_path)
    runner = _runner(IoUMetric(), 'report_no_labels')
    hook = ReportHook(str(tmp_path / 'report'))
    hook.before_test(runner)
    sample = _samples(str(tmp_path), 1)[0]
    del sample.gt_sem_seg
    with pytest.raises(UserError, match='img0.png has no ground truth'):
        hook.after_test_iter(runner, 0, outputs=[sample])


def _report_ranks(rank: int, out_dir: str) -> None:
    """One rank of a 2-process test of 3 images, as the sampler deals
    them: rank 0 gets images 0 and 2, rank 1 image 1 and image 0 again
    (padding)."""
    samples = _samples(out_dir)
    runner = _runner(IoUMetric(), f'report_rank{rank}')
    hook = ReportHook(osp.join(out_dir, 'report'),
                      settings=dict(config='c.py', model_file='m.pth'))
    hook.before_test(runner)
    mine = [samples[0], samples[2]] if rank == 0 else [samples[1],
                                                       samples[0]]
    for batch, sample in enumerate(mine):
        hook.after_test_iter(runner, batch, outputs=[sample])
    hook.after_test_epoch(runner, metrics={'mIoU': 12.5})


@pytest.mark.slow
def test_two_processes_write_one_report_of_each_image_once(tmp_path):
    from helpers.processes import run_two_gloo_processes
    _write_images(tmp_path)
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
