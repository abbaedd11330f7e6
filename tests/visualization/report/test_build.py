"""What a report holds: the run in words, the set's counts and tables."""
import numpy as np
import pytest
import torch

from emanet.engine.run_record import build_test_record
from emanet.evaluation.iou import confusion_counts
from emanet.utils import precision
from emanet.visualization.report.build import (
    build_report,
    mode_label,
    precision_label,
)

CLASSES = ['road', 'car', 'rider']
PALETTE = [[128, 64, 128], [0, 0, 142], [255, 0, 0]]


class _Seg(torch.nn.Module):
    """A segmentor stand-in: weights and a ``test_cfg``."""

    def __init__(self, **test_cfg):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1)
        self.test_cfg = test_cfg


def test_mode_in_words():
    seg = _Seg(mode='slide', crop_size=(64, 64), stride=(48, 48))
    assert mode_label('slide', seg, False) == \
        'slide (crop (64, 64), stride (48, 48))'
    assert mode_label('whole', _Seg(), True) == \
        'whole, --aug-test (views averaged)'


@pytest.mark.parametrize('native,forced,label', [
    (True, False, 'bfloat16 autocast (EM iterations float32)'),
    (False, True, 'bfloat16 autocast (EM iterations float32)'),
    (False, False, 'float32 (--amp: bfloat16 is not native here)'),
])
def test_precision_is_the_choice_the_run_made(native, forced, label,
                                              monkeypatch, capsys):
    monkeypatch.setattr(precision, 'bf16_is_native', lambda device: native)
    monkeypatch.setattr(precision, 'bf16_forced', lambda: forced)
    assert precision_label(_Seg(), amp=True) == label
    assert precision_label(_Seg(), amp=False) == 'float32'
    assert capsys.readouterr().out == ''  # the run logged it already


def _image(name, pred, gt):
    flat = confusion_counts(pred, gt, 3, 255).ravel()
    index = np.flatnonzero(flat)
    return dict(name=name, img_path=f'/nowhere/{name}.png', index=index,
                values=flat[index], files={})


def test_report_adds_the_images_up_and_takes_the_metric_table():
    gt = np.array([[0, 0, 1, 1]])
    images = [_image('good', gt, gt),
              _image('bad', np.array([[1, 1, 1, 1]]), gt)]
    record = build_test_record(
        config='configs/x.py', model_file='m.pth', backend='pytorch',
        mode='whole', fast=False, amp=False, aug_test=False,
        format_only=False, device='cpu: test', num_images=2, seconds=1.0,
        metrics={'mIoU': 37.5, 'aAcc': 75.0},
        per_class={'Class': CLASSES, 'IoU': [50.0, 66.67, None]})
    report, picture = build_report(images, CLASSES, PALETTE, 255, record,
                                   record['per_class'], _Seg(), '/out')
    assert report['title'] == 'EMANet evaluation report: x.py'
    assert report['record'] is record
    assert report['settings']['Mode'] == 'whole'
    assert report['settings']['Precision'] == 'float32'
    assert report['settings']['Test time'] == '1.0 s (with this report)'
    assert report['confusion']['counts'] == [[2, 2, 0], [0, 4, 0],
                                             [0, 0, 0]]
    # the scores are the metric's, the pixel shares the report's own
    assert report['per_class'] == dict(
        Class=CLASSES, IoU=[50.0, 66.67, None], Pixels=[50.0, 50.0, 0.0])
    assert [im['name'] for im in report['images']] == ['bad', 'good']
    assert report['images'][0]['img_link'] is None  # not a local file
    assert report['confusion']['most_confused'] == [('road', 'car', 50.0)]
    assert picture.ndim == 3 and picture.shape[2] == 3
