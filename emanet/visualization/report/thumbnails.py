"""The gallery's pictures of one image: thumbnails and full-size maps.

Four thumbnails per image (the image, its ground truth, the prediction
and an error map) keep the page light; label maps are also written at
full size as palette PNGs (a few tens of kB for 1024x2048 Cityscapes),
which the thumbnails link to.
"""
import io
import os.path as osp
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

#: Thumbnail width in pixels (the height keeps the aspect ratio).
THUMB_WIDTH = 320
JPEG_QUALITY = 85
#: Colours of the error map: right, wrong, ignored (RGB).
RIGHT_RGB = (0, 0, 0)
WRONG_RGB = (230, 25, 75)
IGNORED_RGB = (150, 150, 150)
# Palette index of a pixel that is not a class (ignored or out of range).
NOT_A_CLASS = 255


def thumb_size(height: int, width: int,
               max_width: int = THUMB_WIDTH) -> Tuple[int, int]:
    """``(width, height)`` of a thumbnail: at most ``max_width`` wide."""
    scale = min(1.0, max_width / max(width, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def label_indices(label: np.ndarray, num_classes: int) -> np.ndarray:
    """``[H, W]`` uint8 palette indices: the class, or 255 for any value
    that is not one (ignored)."""
    label = np.asarray(label)
    valid = (label >= 0) & (label < num_classes)
    return np.where(valid, label, NOT_A_CLASS).astype(np.uint8)


def error_codes(gt: np.ndarray, pred: np.ndarray,
                num_classes: int, ignore_index: int) -> np.ndarray:
    """``[H, W]`` uint8: 0 right, 1 wrong, 2 ignored (as the metric
    leaves pixels out: ``ignore_index`` or not a class)."""
    ignored = (gt == ignore_index) | (gt < 0) | (gt >= num_classes)
    codes = (gt != pred).astype(np.uint8)
    codes[ignored] = 2
    return codes


def palette_png(indices: np.ndarray,
                palette: Sequence[Sequence[int]]) -> bytes:
    """An 8-bit palette PNG of ``[H, W]`` uint8 indices.

    Args:
        indices: palette indices.
        palette: RGB triples for indices 0..len-1; the others are black.
    """
    from PIL import Image
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:len(palette)] = np.asarray(palette, dtype=np.uint8)
    image = Image.fromarray(np.ascontiguousarray(indices), mode='P')
    image.putpalette(table.tobytes())
    buf = io.BytesIO()
    image.save(buf, format='PNG')
    return buf.getvalue()


def jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes of an ``[H, W, 3]`` uint8 RGB picture."""
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f'cannot encode a {rgb.shape} picture as JPEG')
    return buf.tobytes()


def error_thumbnail(image: np.ndarray, codes: np.ndarray,
                    size: Tuple[int, int]) -> np.ndarray:
    """The image faded to grey, wrong pixels red, ignored ones grey.

    Each thumbnail pixel mixes the colours by the share of its source
    pixels that are wrong or ignored, so thin wrong structures stay
    visible when shrunk.

    Args:
        image: ``[H, W, 3]`` uint8 RGB, or a thumbnail of it of ``size``.
        codes: ``[H, W]`` of :func:`error_codes`.
        size: ``(width, height)`` of the result.

    Returns:
        np.ndarray: ``[h, w, 3]`` uint8 RGB.
    """
    small = (image if image.shape[1::-1] == tuple(size) else
             cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    grey = small.astype(np.float32).mean(axis=2, keepdims=True)  # [h, w, 1]
    base = 40 + grey * 0.45  # faded, so the red stands out

    def share(code: int) -> np.ndarray:
        mask = (codes == code).astype(np.float32)
        return cv2.resize(mask, size, interpolation=cv2.INTER_AREA)[..., None]

    wrong, ignored = share(1), share(2)  # [h, w, 1] each, in [0, 1]
    out = (base * (1 - wrong - ignored)
           + np.float32(WRONG_RGB) * wrong
           + np.float32(IGNORED_RGB) * ignored)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def panel_files(name: str) -> Dict[str, str]:
    """Paths (relative to the report folder) of one image's pictures."""
    return dict(
        image='thumbs/' + name + '.jpg',
        gt='thumbs/' + name + '_gt.png',
        pred='thumbs/' + name + '_pred.png',
        error='thumbs/' + name + '_error.jpg',
        gt_full='full/' + name + '_gt.png',
        pred_full='full/' + name + '_pred.png',
        error_full='full/' + name + '_error.png')


def write_panels(folder: str, name: str, image: np.ndarray,
                 gt: np.ndarray, pred: np.ndarray,
                 palette: Sequence[Sequence[int]], ignore_index: int,
                 max_width: int = THUMB_WIDTH) -> Dict[str, str]:
    """Write the thumbnails and full-size maps of one image.

    The files go straight into ``folder`` (the report's temporary folder,
    renamed as a whole once complete), so they are written plainly.

    Args:
        folder: the report folder (``thumbs/`` and ``full/`` exist).
        name: the image's file stem in the report.
        image: ``[H, W, 3]`` uint8 RGB at the label's size.
        gt: ``[H, W]`` ground truth.
        pred: ``[H, W]`` prediction.
        palette: one RGB triple per class.
        ignore_index: the ignored label value.
        max_width: thumbnail width.

    Returns:
        dict: :func:`panel_files`.
    """
    num_classes = len(palette)
    size = thumb_size(gt.shape[0], gt.shape[1], max_width)
    files = panel_files(name)
    gt_idx = label_indices(gt, num_classes)  # [H, W]
    pred_idx = label_indices(pred, num_classes)
    codes = error_codes(gt, pred, num_classes, ignore_index)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_gt = cv2.resize(gt_idx, size, interpolation=cv2.INTER_NEAREST)
    small_pred = cv2.resize(pred_idx, size, interpolation=cv2.INTER_NEAREST)
    error_palette = [RIGHT_RGB, WRONG_RGB, IGNORED_RGB]
    blobs = dict(
        image=jpeg(small),
        gt=palette_png(small_gt, palette),
        pred=palette_png(small_pred, palette),
        error=jpeg(error_thumbnail(small, codes, size)),
        gt_full=palette_png(gt_idx, palette),
        pred_full=palette_png(pred_idx, palette),
        error_full=palette_png(codes, error_palette))
    for key, data in blobs.items():
        with open(osp.join(folder, files[key]), 'wb') as f:
            f.write(data)
    return files
