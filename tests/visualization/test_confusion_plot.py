"""The confusion matrix picture: size, file, colours, colour maps."""
import cv2
import numpy as np
import pytest

from emanet.utils.errors import UserError
from emanet.visualization.confusion_plot import (
    check_colormap,
    plot_confusion_matrix,
)

CITYSCAPES = ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
              'traffic light', 'traffic sign', 'vegetation', 'terrain',
              'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
              'motorcycle', 'bicycle']


def test_19_classes_get_a_large_picture_written_as_png(tmp_path):
    percent = np.full((19, 19), 100 / 19)
    percent[3] = np.nan  # a class without ground truth
    out = tmp_path / 'cm.png'
    rgb = plot_confusion_matrix(percent, CITYSCAPES, title='T',
                                cmap='Blues', out_file=str(out))
    # at least ~40 pixels per cell so that names and numbers are readable
    assert rgb.shape[0] >= 19 * 40 and rgb.shape[1] >= 19 * 40
    written = cv2.imread(str(out))
    assert written.shape == rgb.shape
    np.testing.assert_array_equal(written[..., ::-1], rgb)


def test_cells_take_the_colour_map_colours():
    percent = np.array([[100.0, 0.0], [0.0, 100.0]])
    white_low = plot_confusion_matrix(percent, ['a', 'b'], cmap='Greys')
    # Greys: 0% is white, 100% black; both present in the picture
    pixels = white_low.reshape(-1, 3)
    assert (pixels == 0).all(axis=1).any()
    assert (pixels == 255).all(axis=1).any()


def test_unknown_colour_map_names_close_ones():
    assert check_colormap('winter') == 'winter'
    with pytest.raises(UserError, match="'wintr'.*did you mean winter"):
        check_colormap('wintr')
