"""The gallery's pictures of one image: thumbnails and full-size maps."""
import os

import cv2
import numpy as np

from emanet.visualization.report.thumbnails import (
    IGNORED_RGB,
    RIGHT_RGB,
    WRONG_RGB,
    thumb_size,
    write_panels,
)


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


def test_thumbnails_are_never_wider_than_asked():
    assert thumb_size(1024, 2048) == (320, 160)
    assert thumb_size(10, 20) == (20, 10)  # small images keep their size
    assert thumb_size(3, 5000, 100) == (100, 1)
