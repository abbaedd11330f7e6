"""Label maps in the palette, ignored pixels hatched, panels and legend."""
import numpy as np
import pytest

from emanet.visualization.label_panels import (
    GAP,
    draw_label_map,
    draw_sample,
    hatch,
)

CLASSES = ['a', 'b', 'c']
PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_classes_in_palette_ignored_hatched():
    label = np.zeros((16, 16), dtype=np.int64)
    label[:, 8:] = 2
    label[8:, :] = 255
    out = draw_label_map(label, PALETTE)
    assert (out[:8, :8] == [255, 0, 0]).all()
    assert (out[:8, 8:] == [0, 0, 255]).all()
    np.testing.assert_array_equal(out[8:], hatch((16, 16))[8:])
    # the hatch is black and white lines, so it differs from any class
    values = np.unique(out[8:].reshape(-1, 3), axis=0).tolist()
    assert values == [[0, 0, 0], [255, 255, 255]]


def test_sample_is_image_then_labels_then_legend():
    image = np.full((20, 30, 3), 7, dtype=np.uint8)
    label = np.zeros((20, 30), dtype=np.int64)
    label[:, 15:] = 255
    out = draw_sample(image, label, CLASSES, PALETTE)
    assert out.shape[1] == 30 + GAP + 30 and out.shape[0] > 20
    np.testing.assert_array_equal(out[:20, :30], image)
    assert (out[:20, 30 + GAP:30 + GAP + 15] == [255, 0, 0]).all()
    legend = out[20:]
    assert (legend == [255, 0, 0]).all(axis=2).any()  # class a's swatch
    assert not (legend == [0, 0, 255]).all(axis=2).any()  # c is absent
    assert draw_sample(image, None, CLASSES, PALETTE) is not None
    with pytest.raises(ValueError, match='differ in size'):
        draw_sample(image, label[:10], CLASSES, PALETTE)
