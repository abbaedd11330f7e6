"""Confusion counts, their normalisation, scores and files."""
import csv
import json

import cv2
import numpy as np
import pytest

from emanet.evaluation.confusion import (
    counts_csv,
    prediction_file,
    read_prediction,
    write_confusion_files,
    write_prediction,
)
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
