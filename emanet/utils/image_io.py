"""PNG encoding and crash-safe PNG files (label maps, predictions)."""
import cv2
import numpy as np

from .atomic_io import atomic_write_bytes


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8/uint16 ``[H, W]`` or ``[H, W, 3]`` (BGR) array."""
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise ValueError(f'Could not encode an array of shape {array.shape} '
                         f'and dtype {array.dtype} as PNG')
    return buf.tobytes()


def write_png(path: str, array: np.ndarray) -> None:
    """Write ``array`` as a PNG file atomically (see :func:`encode_png`)."""
    atomic_write_bytes(path, encode_png(array))
