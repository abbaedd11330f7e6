"""PNG encoding and crash-safe PNG files."""
import errno
import os

import cv2
import numpy as np
import pytest

from emanet.utils.image_io import encode_png, write_png


@pytest.mark.parametrize('shape, dtype', [((5, 7), np.uint8),
                                          ((5, 7), np.uint16),
                                          ((5, 7, 3), np.uint8)])
def test_png_round_trip(tmp_path, shape, dtype):
    array = np.random.default_rng(0).integers(
        0, np.iinfo(dtype).max, shape).astype(dtype)
    decoded = cv2.imdecode(np.frombuffer(encode_png(array), np.uint8),
                           cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, array)
    path = str(tmp_path / 'pred.png')
    write_png(path, array)
    np.testing.assert_array_equal(
        cv2.imread(path, cv2.IMREAD_UNCHANGED), array)
    assert os.listdir(tmp_path) == ['pred.png']


def test_unencodable_array_is_refused_and_nothing_written(tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr(cv2, 'imencode', lambda ext, array: (False, None))
    with pytest.raises(ValueError, match=r'Could not encode an array of '
                       r'shape \(2, 3\) and dtype uint8 as PNG'):
        write_png(str(tmp_path / 'x.png'), np.zeros((2, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_old_png(tmp_path, monkeypatch):
    path = tmp_path / 'pred.png'
    write_png(str(path), np.zeros((2, 2), np.uint8))
    old = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space left'):
        write_png(str(path), np.ones((2, 2), np.uint8))
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ['pred.png']
