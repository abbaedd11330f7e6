"""Files of class probabilities, written crash-safe.

Two formats (:data:`PROB_FORMATS`):

- ``'npz'``: ``<name>.npz`` holding ``prob``, the probabilities
  ``[C, H, W]`` as float16 (each pixel sums to 1 within float16's
  rounding, about 1e-3), compressed. Where the rounding ties the
  predicted class with another, it is one float16 step above, so that the
  argmax of the file is the prediction's label;
- ``'png'``: ``<name>.png``, the probability of the top class as a uint8
  confidence map ``[H, W]`` (``round(255 * p)``).
"""
import io
from typing import Optional, Tuple

import numpy as np

from .atomic_io import atomic_write_bytes
from .image_io import encode_png

PROB_FORMATS: Tuple[str, ...] = ('npz', 'png')


def prob_suffix(fmt: str) -> str:
    """The file suffix of a format of :data:`PROB_FORMATS`."""
    if fmt not in PROB_FORMATS:
        raise ValueError(f'probability format {fmt!r}: use one of '
                         f'{", ".join(PROB_FORMATS)}')
    return '.' + fmt


def encode_probs(probs: np.ndarray, fmt: str = 'npz',
                 labels: Optional[np.ndarray] = None) -> bytes:
    """The bytes of a probability file.

    Args:
        probs: ``[C, H, W]`` float probabilities.
        fmt: one of :data:`PROB_FORMATS`.
        labels: ``[H, W]`` the predicted classes (the argmax of the
            logits, which float32 probabilities may tie); ``probs``'
            argmax if None.
    """
    prob_suffix(fmt)
    if fmt == 'png':
        top = probs.max(axis=0)  # [H, W]
        return encode_png(np.rint(top * 255).clip(0, 255).astype(np.uint8))
    buf = io.BytesIO()
    np.savez_compressed(buf, prob=to_float16(probs, labels))
    return buf.getvalue()


def to_float16(probs: np.ndarray,
               labels: Optional[np.ndarray] = None) -> np.ndarray:
    """``probs`` ``[C, H, W]`` in float16 whose argmax is ``labels``.

    Rounding is monotone, so it can only tie the predicted class with
    another (the argmax takes the first): there the predicted class goes
    one float16 step up.

    Args:
        probs: ``[C, H, W]`` float probabilities.
        labels: ``[H, W]`` classes, each a maximum of ``probs`` up to
            rounding; ``probs``' argmax if None.
    """
    half = probs.astype(np.float16)
    top = probs.argmax(axis=0) if labels is None else labels  # [H, W]
    ys, xs = np.nonzero(half.argmax(axis=0) != top)
    if len(ys):
        cls = top[ys, xs]
        half[cls, ys, xs] = np.nextafter(half[cls, ys, xs],
                                         np.float16(np.inf))
    return half


def write_probs(path: str, probs: np.ndarray, fmt: str = 'npz',
                labels: Optional[np.ndarray] = None) -> None:
    """Write ``probs`` ``[C, H, W]`` to ``path`` atomically (temporary
    file, fsync, rename); ``labels`` as for :func:`encode_probs`."""
    atomic_write_bytes(path, encode_probs(probs, fmt, labels))


def read_probs(path: str) -> np.ndarray:
    """The probabilities ``[C, H, W]`` (float16) of an ``.npz`` file of
    :func:`write_probs`."""
    with np.load(path) as data:
        return data['prob']
