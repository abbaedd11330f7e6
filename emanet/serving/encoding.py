"""A prediction as the bytes of an answer: the label PNG, the JSON
summary, the float16 probabilities (``.npz``) or the colour overlay."""
import base64
import io
import json
from dataclasses import dataclass
from typing import Dict, Sequence

import cv2
import numpy as np
import torch
from mmengine.structures import PixelData

from emanet.structures import SegDataSample

from .queries import Query

PNG, JSON, NPZ = 'image/png', 'application/json', 'application/x-npz'


@dataclass
class Encoded:
    """An answer's body and media type, and the size of the batch that
    computed it."""
    body: bytes
    media_type: str
    batch_size: int = 1


def label_map(sample: SegDataSample) -> np.ndarray:
    """``[H, W]`` uint8 train ids of a prediction."""
    return sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file of ``[H, W]`` grey or ``[H, W, 3]`` BGR uint8."""
    ok, buffer = cv2.imencode('.png', image)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode {image.shape} as PNG')
    return buffer.tobytes()


def class_shares(labels: np.ndarray, classes: Sequence[str]
                 ) -> Dict[str, float]:
    """Each class's share of the pixels (summing to 1), in class order."""
    counts = np.bincount(labels.ravel(), minlength=len(classes))
    return {name: float(count) / labels.size
            for name, count in zip(classes, counts)}


def probabilities(sample: SegDataSample, labels: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` float16 class probabilities whose argmax is ``labels``.

    Softmax of the logits (sigmoid for a one-channel head). Rounding to
    float16 keeps the order of the values but can make the label's
    probability equal to a lower class index's, which ``argmax`` would
    pick: there the label's value goes one float16 step above the
    largest.
    """
    logits = sample.seg_logits.data.float().cpu()  # [C, H, W]
    if logits.shape[0] == 1:
        return torch.sigmoid(logits).numpy().astype(np.float16)
    probs = torch.softmax(logits, dim=0).numpy().astype(np.float16)
    ys, xs = np.nonzero(probs.argmax(0) != labels)  # ties after rounding
    best = probs[:, ys, xs].max(0)
    probs[labels[ys, xs], ys, xs] = np.nextafter(best, np.float16(2))
    return probs


def npz_bytes(labels: np.ndarray, probs: np.ndarray) -> bytes:
    """``.npz`` with ``labels`` ``[H, W]`` uint8 and ``probs``
    ``[C, H, W]`` float16."""
    buffer = io.BytesIO()
    np.savez(buffer, labels=labels, probs=probs)
    return buffer.getvalue()


def overlay_png(image: np.ndarray, labels: np.ndarray, visualizer) -> bytes:
    """PNG of the palette colours blended over the BGR ``image``."""
    rgb = np.ascontiguousarray(image[..., ::-1])
    drawn = visualizer.draw_sem_seg(
        rgb, PixelData(data=torch.from_numpy(labels)[None]))  # RGB
    return png_bytes(np.ascontiguousarray(drawn[..., ::-1]))


def encode(sample: SegDataSample, image: np.ndarray, query: Query,
           classes: Sequence[str], visualizer) -> Encoded:
    """The answer to one request.

    Args:
        sample: the prediction (``pred_sem_seg``, ``seg_logits``).
        image: the BGR ``[H, W, 3]`` input (for the overlay).
        query: what to answer.
        classes: the class names, in train id order.
        visualizer: a ``SegLocalVisualizer`` with the model's palette.

    Returns:
        Encoded: with ``format=json`` the class names, their pixel shares
        and each asked file in base64 (``labels_png``, ``probs_npz``,
        ``overlay_png``); otherwise the overlay PNG, the ``.npz`` or the
        label PNG, in that order of precedence.
    """
    labels = label_map(sample)
    probs = probabilities(sample, labels) if query.probs else None
    overlay = overlay_png(image, labels, visualizer) \
        if query.overlay else None
    if query.format != 'json':
        if overlay is not None:
            return Encoded(overlay, PNG)
        if probs is not None:
            return Encoded(npz_bytes(labels, probs), NPZ)
        return Encoded(png_bytes(labels), PNG)
    answer = dict(height=int(labels.shape[0]), width=int(labels.shape[1]),
                  classes=list(classes),
                  shares=class_shares(labels, classes),
                  labels_png=_b64(png_bytes(labels)))
    if probs is not None:
        answer['probs_npz'] = _b64(npz_bytes(labels, probs))
    if overlay is not None:
        answer['overlay_png'] = _b64(overlay)
    return Encoded(json.dumps(answer).encode(), JSON)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')
