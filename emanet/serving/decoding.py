"""Request bodies to images: read, size-checked before decoding, decoded
as ``mmcv.imread`` decodes a file (so a request gives the same prediction
as ``inference_model`` on the file)."""
import io
from typing import Optional, Tuple

import mmcv
import numpy as np

from .errors import RequestError

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_START, JPEG_END = b'\xff\xd8', b'\xff\xd9'
# where the end chunk (PNG) or marker (JPEG) may stand before padding
TAIL = 1024


def max_body_bytes(max_pixels: int) -> int:
    """The largest body taken for ``max_pixels``: an uncompressed 16-bit
    RGBA image of that size (8 bytes a pixel) and 1 MiB of headers."""
    return 8 * max_pixels + (1 << 20)


def header_size(data: bytes) -> Optional[Tuple[int, int]]:
    """``(height, width)`` from the image header without decoding the
    pixels, or None where Pillow does not know the format.

    Raises:
        RequestError: 413 for a decompression bomb (Pillow refuses to open
            it).
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError as err:
        raise RequestError(413, f'image too large: {err}') from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return height, width


def _format(data: bytes) -> Optional[str]:
    if data.startswith(PNG_SIGNATURE):
        return 'PNG'
    if data.startswith(JPEG_START):
        return 'JPEG'
    return None


def check_complete(data: bytes) -> None:
    """Refuse a PNG without its end chunk or a JPEG without its end marker:
    a truncated upload, which some decoders would fill with grey."""
    kind = _format(data)
    # the IEND chunk: its type and 4 bytes of CRC
    end = data.rfind(b'IEND', max(0, len(data) - TAIL))
    if kind == 'PNG' and (end < 0 or len(data) - end < 8):
        raise RequestError(400, 'truncated PNG: the body ends before the '
                           'IEND chunk; send the whole file')
    if kind == 'JPEG' and JPEG_END not in data[-TAIL:]:
        raise RequestError(400, 'truncated JPEG: the body ends before the '
                           'end-of-image marker; send the whole file')


def check_pixels(height: int, width: int, max_pixels: int) -> None:
    """413 when ``height * width`` is more than ``max_pixels``."""
    if height * width > max_pixels:
        raise RequestError(
            413, f'image of {width}x{height} = {height * width} pixels is '
            f'more than the service takes ({max_pixels} pixels, '
            '--max-pixels): send a smaller image')


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """A request body as the BGR image ``inference_model`` would read.

    Args:
        data: the image file's bytes (PNG, JPEG, BMP, TIFF, WebP, ...).
        max_pixels: the most pixels taken.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 BGR (grey images repeated to three
        channels, alpha dropped, 16 bits scaled to 8, as ``mmcv.imread``).

    Raises:
        RequestError: 400 for an empty, truncated or undecodable body; 413
            for more than ``max_pixels`` pixels (checked on the header
            before decoding where the format allows).
    """
    if not data:
        raise RequestError(400, 'empty body: send an image file as the '
                           'body or as the multipart field "file"')
    size = header_size(data)
    if size is not None:
        check_pixels(*size, max_pixels)
    check_complete(data)
    try:
        image = mmcv.imfrombytes(data, flag='color')
    except Exception:  # OpenCV raises cv2.error on some corrupt headers
        image = None
    if image is None:
        kind = _format(data)
        if kind or size is not None:
            raise RequestError(400, f'could not decode the '
                               f'{kind or "image"}: truncated or corrupt')
        raise RequestError(400, 'the body is not an image: send a PNG, '
                           'JPEG, BMP, TIFF or WebP file')
    check_pixels(*image.shape[:2], max_pixels)
    return image
