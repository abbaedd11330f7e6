"""IoUMetric against a hand-computed confusion matrix."""
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import PixelData

from emanet.evaluation import IoUMetric
from emanet.evaluation.metrics.iou_metric import iou_metric_of
from emanet.registry import METRICS
from emanet.structures import SegDataSample

CLASSES = ('a', 'b', 'c', 'd')


def sample(gt, pred, name='x.png'):
    s = SegDataSample(metainfo=dict(img_path=name))
    s.gt_sem_seg = PixelData(data=torch.tensor([gt]))
    s.pred_sem_seg = PixelData(data=torch.tensor([pred]))
    return s.to_dict()  # what mmengine's Evaluator passes on


# Class 'd' (3) is predicted only on an ignored pixel: NaN, not 0.
SAMPLES = [
    sample([[0, 0, 1, 1], [2, 2, 255, 255]], [[0, 1, 1, 1], [2, 0, 3, 0]]),
    sample([[0, 1], [1, 2]], [[0, 1], [2, 2]]),
]
HAND = np.array([[2, 1, 0, 0], [0, 3, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]])


def make_metric(**kwargs):
    metric = METRICS.build(dict(type='IoUMetric', **kwargs))
    metric.dataset_meta = dict(classes=CLASSES)
    return metric


def test_scores_and_table(capsys):
    MMLogger.get_instance('iou_test', log_level='INFO')
    metric = make_metric(iou_metrics=['mIoU', 'mDice', 'mFscore'])
    metric.process({}, SAMPLES)
    # A padded duplicate from the distributed sampler is cut by `size`.
    metric.process({}, SAMPLES[:1])
    res = metric.evaluate(size=2)
    # IoU = [2/4, 3/5, 2/4, nan]; Acc = [2/3, 3/4, 2/3, nan]; aAcc = 7/10.
    assert res['aAcc'] == 70.0
    assert res['mIoU'] == round((0.5 + 0.6 + 0.5) / 3 * 100, 2) == 53.33
    assert res['mAcc'] == round((2 / 3 + 3 / 4 + 2 / 3) / 3 * 100, 2)
    assert res['mDice'] == round((4 / 6 + 6 / 8 + 4 / 6) / 3 * 100, 2)
    assert res['mPrecision'] == round((2 / 3 + 3 / 4 + 2 / 3) / 3 * 100, 2)
    assert res['mRecall'] == res['mAcc']
    assert res['mFscore'] == res['mDice']  # F1 = Dice
    out = capsys.readouterr().out
    assert 'per class results' in out
    row_d = next(line for line in out.splitlines() if line.startswith('| d'))
    assert 'nan' in row_d
    assert '| Class | IoU' in out


def test_nan_to_num_and_ignore_index():
    metric = make_metric(nan_to_num=0)
    metric.process({}, SAMPLES)
    assert metric.evaluate(2)['mIoU'] == round(1.6 / 4 * 100, 2)
    # ignore_index=0 drops class 'a' pixels from the ground truth instead.
    metric = make_metric(ignore_index=0)
    metric.process({}, [sample([[0, 1]], [[1, 1]])])
    res = metric.evaluate(1)
    assert res['aAcc'] == 100.0 and res['mIoU'] == 100.0


def test_prediction_size_mismatch_names_image():
    metric = make_metric()
    bad = sample([[0, 1]], [[0, 1]], name='city_1_2_leftImg8bit.png')
    bad['pred_sem_seg']['data'] = torch.zeros(1, 2, 2, dtype=torch.long)
    with pytest.raises(ValueError, match='city_1_2_leftImg8bit.png'):
        metric.process({}, [bad])


def test_output_dir_and_format_only(tmp_path):
    import cv2
    metric = make_metric(output_dir=str(tmp_path), format_only=True)
    s = sample([[0, 1]], [[2, 3]], name='/x/img_a.png')
    del s['gt_sem_seg']
    metric.process({}, [s])
    assert metric.evaluate(1) == {}
    png = cv2.imread(str(tmp_path / 'img_a.png'), cv2.IMREAD_UNCHANGED)
    assert png.tolist() == [[2, 3]]


def test_bad_arguments():
    with pytest.raises(KeyError, match='mFoo'):
        IoUMetric(iou_metrics=['mFoo'])
    with pytest.raises(ValueError, match='output_dir'):
        IoUMetric(format_only=True)


def test_prediction_out_of_range_names_image():
    metric = make_metric()
    with pytest.raises(ValueError, match='y.png has values outside 0..3'):
        metric.process({}, [sample([[0, 1]], [[0, 7]], name='y.png')])


def test_per_class_file(tmp_path):
    import json
    path = tmp_path / 'out' / 'per_class.json'
    metric = make_metric(per_class_file=str(path))
    metric.process({}, SAMPLES)
    metric.evaluate(2)
    with open(path) as f:
        table = json.load(f)
    assert table['Class'] == list(CLASSES)
    # IoU = [2/4, 3/5, 2/4, nan]: NaN is written as null.
    assert table['IoU'] == [50.0, 60.0, 50.0, None]
    assert table['Acc'] == [round(2 / 3 * 100, 2), 75.0,
                            round(2 / 3 * 100, 2), None]
    assert metric.per_class == table  # the file holds the kept table


def test_last_per_class_table_is_kept_in_memory(tmp_path):
    metric = make_metric(iou_metrics=['mIoU', 'mDice'])
    assert metric.per_class is None  # before the first evaluation
    metric.process({}, SAMPLES)
    metric.evaluate(2)
    assert list(metric.per_class) == ['Class', 'IoU', 'Acc', 'Dice']
    assert metric.per_class['Class'] == list(CLASSES)
    assert metric.per_class['IoU'] == [50.0, 60.0, 50.0, None]
    assert metric.per_class['Dice'][1] == round(6 / 8 * 100, 2)
    assert not list(tmp_path.iterdir())  # without per_class_file: no file
    # A later evaluation replaces it; one without scores leaves none.
    metric.process({}, SAMPLES[1:])
    metric.evaluate(1)
    assert metric.per_class['IoU'][0] == 100.0
    metric.format_only, metric.output_dir = True, str(tmp_path)
    metric.process({}, SAMPLES[1:])
    metric.evaluate(1)
    assert metric.per_class is None


def test_iou_metric_of_an_evaluator(tmp_path):
    from mmengine.evaluator import Evaluator
    cityscapes = METRICS.build(dict(type='CityscapesMetric',
                                    output_dir=str(tmp_path)))
    evaluator = Evaluator([cityscapes, make_metric(prefix='other')])
    assert iou_metric_of(evaluator) is cityscapes  # a subclass counts
    assert iou_metric_of(Evaluator([])) is None
