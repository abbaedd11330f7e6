"""Probability files: float16 arrays whose argmax is the label, and
confidence PNGs, written crash-safe."""
import os

import cv2
import numpy as np
import pytest
import torch

from emanet.utils.prob_io import (
    encode_probs,
    prob_suffix,
    read_probs,
    to_float16,
    write_probs,
)


def _probs(shape=(5, 30, 40), seed=0):
    logits = torch.randn(shape, generator=torch.Generator().manual_seed(
        seed)) * 3
    return logits.softmax(dim=0).numpy()


def test_npz_holds_float16_probabilities_that_sum_to_one(tmp_path):
    probs = _probs()
    path = str(tmp_path / 'a.npz')
    write_probs(path, probs)
    back = read_probs(path)
    assert back.dtype == np.float16 and back.shape == probs.shape
    assert np.abs(back.astype(np.float32).sum(0) - 1).max() < 1e-2
    assert np.abs(back - probs).max() < 1e-3
    assert os.listdir(tmp_path) == ['a.npz']  # no temporary file left


def test_float16_keeps_the_top_class_where_rounding_ties_it():
    probs = np.zeros((3, 1, 2), np.float32)
    # class 2 above class 1 by less than float16 can tell apart
    probs[:, 0, 0] = [0.2, 0.4, 0.4 + 1e-6]
    probs[:, 0, 1] = [0.5, 0.3, 0.2]
    assert probs.astype(np.float16)[:, 0, 0].argmax() == 1  # the tie
    half = to_float16(probs)
    assert half.argmax(axis=0).tolist() == [[2, 0]]
    # the labels of the logits, where float32 probabilities tie too
    tied = np.full((2, 1, 1), 0.5, np.float32)
    assert to_float16(tied, np.array([[1]])).argmax(axis=0).tolist() == [
        [1]]
    assert half[1, 0, 0] == np.float16(0.4)  # the others as rounded
    assert np.array_equal(half[:, 0, 1], probs[:, 0, 1].astype(np.float16))


def test_argmax_of_many_random_maps_is_kept():
    probs = _probs((19, 64, 64), seed=3)
    assert np.array_equal(to_float16(probs).argmax(0), probs.argmax(0))


def test_png_is_the_top_class_confidence(tmp_path):
    probs = _probs()
    path = str(tmp_path / 'a.png')
    write_probs(path, probs, 'png')
    back = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and back.shape == probs.shape[1:]
    assert np.abs(back / 255 - probs.max(0)).max() <= 0.5 / 255 + 1e-6


def test_unknown_format_is_refused():
    assert prob_suffix('npz') == '.npz'
    with pytest.raises(ValueError, match="'jpg': use one of npz, png"):
        encode_probs(_probs(), 'jpg')
