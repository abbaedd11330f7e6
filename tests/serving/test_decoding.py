"""Request bodies to images, as mmcv.imread reads files."""
import cv2
import mmcv
import numpy as np
import pytest

from emanet.serving.decoding import (
    decode_image,
    header_size,
    max_body_bytes,
)
from emanet.serving.errors import RequestError


def encoded(ext: str, image: np.ndarray) -> bytes:
    return cv2.imencode(ext, image)[1].tobytes()


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize('ext', ['.png', '.jpg', '.bmp', '.tiff', '.webp'])
def test_bytes_decode_as_the_file_reads(ext, image, tmp_path):
    data = encoded(ext, image)
    path = tmp_path / f'image{ext}'
    path.write_bytes(data)
    np.testing.assert_array_equal(decode_image(data, 10 ** 6),
                                  mmcv.imread(str(path)))
    assert header_size(data) == (24, 40)


def test_grey_and_16_bit_images_become_bgr_uint8(image):
    grey = decode_image(encoded('.png', image[..., 0]), 10 ** 6)
    assert grey.shape == (24, 40, 3) and grey.dtype == np.uint8
    deep = decode_image(encoded('.png', image.astype(np.uint16) * 257),
                        10 ** 6)
    np.testing.assert_array_equal(deep, image)


@pytest.mark.parametrize('case,status,message', [
    ('empty', 400, 'empty body'),
    ('text', 400, 'the body is not an image'),
    ('half png', 400, 'truncated PNG'),
    ('png without end', 400, 'truncated PNG'),
    ('half jpeg', 400, 'truncated JPEG'),
    ('corrupt png', 400, 'could not decode the PNG: truncated or corrupt'),
    ('too large', 413, 'image of 40x24 = 960 pixels is more than the '
     'service takes (959 pixels'),
])
def test_bad_bodies(case, status, message, image):
    png, jpeg = encoded('.png', image), encoded('.jpg', image)
    corrupt = bytearray(png)
    corrupt[60:80] = bytes(20)  # inside the pixel data
    data = {'empty': b'', 'text': b'hello', 'half png': png[:len(png) // 2],
            'png without end': png[:-4], 'half jpeg': jpeg[:len(jpeg) // 2],
            'corrupt png': bytes(corrupt), 'too large': png}[case]
    with pytest.raises(RequestError) as info:
        decode_image(data, 959 if case == 'too large' else 10 ** 6)
    assert info.value.status == status
    assert message in info.value.message


def test_pixels_are_counted_before_decoding(monkeypatch, image):
    """A huge image is refused from its header, never decoded."""
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *a, **k: 1 / 0)
    with pytest.raises(RequestError) as info:
        decode_image(encoded('.png', image), 100)
    assert info.value.status == 413


def test_body_limit_holds_an_uncompressed_image_of_max_pixels():
    assert max_body_bytes(1000) >= 1000 * 8
