"""The report's images: pictures written at once, sparse counts kept."""
import os

import cv2
import numpy as np
import torch

from emanet.evaluation.iou import confusion_counts
from emanet.visualization.report.gallery import (
    Gallery,
    classes_and_palette,
    safe_name,
)

PALETTE = [[128, 64, 128], [0, 0, 142], [255, 0, 0]]


def test_images_keep_sparse_counts_and_unique_names(tmp_path):
    for sub in ('thumbs', 'full'):
        os.makedirs(tmp_path / sub)
    # two images with the same file name in different folders, one of
    # another size than its labels (resized to them)
    paths = []
    for i, (folder, shape) in enumerate([('a', (8, 16)), ('b', (4, 8))]):
        os.makedirs(tmp_path / folder)
        paths.append(str(tmp_path / folder / 'x y.png'))
        cv2.imwrite(paths[-1], np.full((*shape, 3), 50 * i, np.uint8))
    gallery = Gallery(str(tmp_path), PALETTE, ignore_index=255,
                      thumb_width=4)
    gt = torch.zeros(8, 16, dtype=torch.int64)
    gt[:, 8:] = 1
    gt[0] = 255
    pred = torch.zeros_like(gt)
    pred[4:] = 2
    for path in paths:
        gallery.add(path, pred, gt)
    first, second = gallery.images
    assert (first['name'], second['name']) == ('x_y', 'x_y_2')
    counts = np.zeros(9, dtype=np.int64)
    counts[first['index']] = first['values']
    np.testing.assert_array_equal(counts.reshape(3, 3),
                                  confusion_counts(pred, gt, 3, 255))
    assert len(first['index']) == 4  # only the pairs that occur
    for image in gallery.images:
        for rel in image['files'].values():
            assert (tmp_path / rel).is_file(), rel
    thumb = cv2.imread(str(tmp_path / second['files']['image']))
    assert thumb.shape == (2, 4, 3)


def test_names_and_colours():
    assert safe_name('frankfurt 1#?.x') == 'frankfurt_1__.x'
    assert safe_name('') == 'image'
    classes, palette = classes_and_palette(
        dict(classes=('a', 'b'), palette=[(1, 2, 3), (4, 5, 6), (7, 8, 9)]))
    assert classes == ['a', 'b'] and palette == [[1, 2, 3], [4, 5, 6]]
    _, made = classes_and_palette(dict(classes=('a', 'b'), palette=[]))
    _, again = classes_and_palette(dict(classes=('a', 'b')))
    assert made == again and len(made) == 2  # the same every run
