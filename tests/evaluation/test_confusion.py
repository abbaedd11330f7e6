"""Confusion counts, their normalisation, scores and files."""
import csv
import json
import time

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.evaluation.confusion import (
    confusion_from_model,
    counts_csv,
    prediction_file,
    read_prediction,
    write_confusion_files,
    write_prediction,
)
from emanet.evaluation.iou import confusion_counts
from emanet.structures import SegDataSample
from emanet.utils.errors import BadDataError, MissingDataError

CLASSES = ['road', 'person', 'rider']
# rows: ground truth, columns: prediction
COUNTS = np.array([[90, 4, 6],
                   [0, 30, 10],
                   [0, 0, 0]])


def test_csv_and_json_files(tmp_path):
    csv_file, json_file = tmp_path / 'c.csv', tmp_path / 'c.json'
    write_confusion_files(COUNTS, CLASSES, str(csv_file), str(json_file),
                          num_images=3)
    with open(csv_file) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['ground truth \\ prediction', *CLASSES]
    assert rows[2] == ['person', '0', '30', '10']
    assert counts_csv(COUNTS, CLASSES) == csv_file.read_text()
    record = json.loads(json_file.read_text())
    assert record['counts'] == COUNTS.tolist()
    assert record['normalized'][1] == [0.0, 75.0, 25.0]
    assert record['normalized'][2] == [None, None, None]
    assert record['Acc'] == [90.0, 75.0, None]
    assert record['IoU'][1] == pytest.approx(100 * 30 / (40 + 34 - 30),
                                             abs=1e-4)
    assert record['num_images'] == 3


def test_prediction_files_round_trip(tmp_path):
    pred = np.array([[0, 1], [2, 1]])
    path = write_prediction(str(tmp_path), '/data/a/x_leftImg8bit.png', pred)
    assert path == prediction_file(str(tmp_path), 'x_leftImg8bit.jpg')
    assert path.endswith('x_leftImg8bit.png')
    np.testing.assert_array_equal(read_prediction(path, 3), pred)
    # reduce_zero_label: written one up, read back as class indices
    path = write_prediction(str(tmp_path), 'y.png', pred, True)
    assert cv2.imread(path, cv2.IMREAD_UNCHANGED).tolist() == [[1, 2],
                                                               [3, 2]]
    np.testing.assert_array_equal(read_prediction(path, 3, True), pred)


def test_bad_predictions_are_named(tmp_path):
    with pytest.raises(MissingDataError, match='tools/test.py'):
        read_prediction(str(tmp_path / 'none.png'), 19)
    colour = tmp_path / 'colour.png'
    cv2.imwrite(str(colour), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(BadDataError, match='--show-dir colour overlay'):
        read_prediction(str(colour), 19)
    label_ids = tmp_path / 'ids.png'
    cv2.imwrite(str(label_ids), np.full((4, 4), 26, np.uint8))
    with pytest.raises(BadDataError, match='labelIds'):
        read_prediction(str(label_ids), 19)
    text = tmp_path / 'text.png'
    text.write_text('not a picture')
    with pytest.raises(BadDataError, match='cannot decode'):
        read_prediction(str(text), 19)


class LabelSet:
    """Three 2x3 images whose ground truth is given; 255 is ignored."""

    metainfo = dict(classes=CLASSES)
    labels = [np.array([[0, 0, 1], [1, 2, 255]]),
              np.array([[2, 2, 2], [0, 255, 1]]),
              np.array([[1, 1, 0], [0, 0, 0]])]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        sample = SegDataSample(metainfo=dict(img_path=f'/d/img{idx}.png'))
        sample.gt_sem_seg = PixelData(
            data=torch.as_tensor(self.labels[idx])[None])  # [1, H, W]
        return dict(inputs=torch.zeros(3, 2, 3), data_samples=sample)


class ShiftedModel:
    """Predicts (label + 1) mod 3, taking 10 ms per test_step."""

    def test_step(self, batch):
        time.sleep(0.01)
        sample = batch['data_samples'][0]
        gt = sample.gt_sem_seg.data  # [1, H, W]
        sample.pred_sem_seg = PixelData(data=(gt % 255 + 1) % 3)
        return [sample]


def test_model_over_chosen_images_counted_timed_and_written(tmp_path):
    dataset, seen = LabelSet(), []

    def progress(items):
        seen.extend(items)
        return items

    run = confusion_from_model(ShiftedModel(), dataset, out_dir=str(
        tmp_path), progress=progress, indices=[2, 0])
    assert seen == [2, 0] and run.num_images == 2
    expected = sum(confusion_counts((gt % 255 + 1) % 3, gt, 3)
                   for gt in (dataset.labels[2], dataset.labels[0]))
    np.testing.assert_array_equal(run.counts, expected)
    assert run.counts.sum() == 11  # one ignored pixel left out
    assert 0.02 <= run.seconds < 1.0  # test_step only
    assert sorted(p.name for p in tmp_path.iterdir()) == ['img0.png',
                                                          'img2.png']
    np.testing.assert_array_equal(
        read_prediction(str(tmp_path / 'img0.png'), 3),
        (dataset.labels[0] % 255 + 1) % 3)
    whole = confusion_from_model(ShiftedModel(), dataset)
    assert whole.num_images == 3 and whole.counts.sum() == 16
