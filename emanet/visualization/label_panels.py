"""Training samples drawn as an image beside its label map.

Used by ``tools/analysis_tools/browse_dataset.py``: the image as the
pipeline left it, the label map in the data set palette with ignored
pixels hatched, and a legend of the classes present.
"""
from typing import Optional, Sequence

import cv2
import numpy as np

from .local_visualizer import colorize

HATCH_PERIOD = 8  # pixels between the hatch lines of ignored pixels
GAP = 4  # pixels between the panels
LEGEND_ROW = 18  # pixels per legend row


def hatch(shape: Sequence[int]) -> np.ndarray:
    """Black ``[H, W, 3]`` with white diagonal lines (ignored pixels)."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    lines = (xs + ys) % HATCH_PERIOD < 2  # [H, W]
    out = np.zeros((shape[0], shape[1], 3), dtype=np.uint8)
    out[lines] = 255
    return out


def draw_label_map(label: np.ndarray, palette: Sequence[Sequence[int]],
                   ignore_index: int = 255) -> np.ndarray:
    """A label map in the palette colours; other values hatched.

    Args:
        label: ``[H, W]`` class indices.
        palette: one RGB triple per class.
        ignore_index: the ignored value (hatched like any value that is
            not a class).

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB.
    """
    label = np.asarray(label)
    valid = (label >= 0) & (label < len(palette)) & (label != ignore_index)
    color = colorize(np.where(valid, label, 0), palette)  # [H, W, 3]
    return np.where(valid[..., None], color, hatch(label.shape))


def _legend(entries: list, width: int) -> np.ndarray:
    """Rows of colour swatches and names, wrapped to ``width`` pixels.

    Args:
        entries: ``(name, RGB triple)`` pairs; None draws the hatch.
        width: the legend's width in pixels.
    """
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    placed, x, y = [], GAP, 0
    for name, swatch in entries:
        text_w = cv2.getTextSize(name, font, scale, 1)[0][0]
        item_w = 14 + 4 + text_w + 12
        if x + item_w > width and x > GAP:
            x, y = GAP, y + LEGEND_ROW
        placed.append((x, y, name, swatch))
        x += item_w
    out = np.full((y + LEGEND_ROW + 2, width, 3), 255, dtype=np.uint8)
    for x, y, name, swatch in placed:
        out[y + 3:y + 15, x:x + 12] = (
            hatch((12, 12)) if swatch is None else swatch)
        cv2.putText(out, name, (x + 16, y + 13), font, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


def draw_sample(image: np.ndarray,
                label: Optional[np.ndarray],
                classes: Sequence[str],
                palette: Sequence[Sequence[int]],
                ignore_index: int = 255) -> np.ndarray:
    """The image, its label map beside it and a legend below.

    Args:
        image: ``[H, W, 3]`` uint8 RGB, as the pipeline produced it.
        label: ``[H, W]`` class indices of the same size, or None (a
            pipeline without labels): the image alone.
        classes: class names.
        palette: one RGB triple per class.
        ignore_index: the ignored label value (hatched).

    Returns:
        np.ndarray: ``[H', W', 3]`` uint8 RGB.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if label is None:
        return image
    if label.shape != image.shape[:2]:
        raise ValueError(f'label map {label.shape} and image '
                         f'{image.shape[:2]} differ in size')
    height = image.shape[0]
    gap = np.full((height, GAP, 3), 255, dtype=np.uint8)
    panels = np.concatenate(
        [image, gap, draw_label_map(label, palette, ignore_index)], axis=1)
    present = [int(v) for v in np.unique(label)
               if 0 <= v < len(classes) and v != ignore_index]
    entries = [(classes[v], palette[v]) for v in present]
    if (~np.isin(label, present)).any():
        entries.append(('ignored', None))
    legend = _legend(entries, panels.shape[1])
    return np.concatenate([panels, legend], axis=0)
