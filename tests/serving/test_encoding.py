"""Predictions as answer bytes: label PNG, JSON, .npz, overlay."""
import base64
import io
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from emanet.serving.encoding import (
    JSON,
    NPZ,
    PNG,
    class_shares,
    encode,
    label_map,
    probabilities,
)
from emanet.serving.queries import Query
from emanet.structures import SegDataSample
from emanet.visualization import SegLocalVisualizer

CLASSES = ['a', 'b', 'c']
PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def sample_of(logits: torch.Tensor) -> SegDataSample:
    """A prediction as ``test_step`` makes it: logits and their argmax."""
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


@pytest.fixture
def sample():
    return sample_of(torch.randn(3, 6, 10, generator=torch.Generator()
                                 .manual_seed(0)))


@pytest.fixture(scope='module')
def visualizer():
    return SegLocalVisualizer(name='test_encoding', classes=CLASSES,
                              palette=PALETTE, alpha=0.5)


def png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_default_answer_is_the_label_png(sample, visualizer):
    answer = encode(sample, np.zeros((6, 10, 3), np.uint8), Query(),
                    CLASSES, visualizer)
    assert answer.media_type == PNG
    np.testing.assert_array_equal(png(answer.body), label_map(sample))


def test_shares_sum_to_one_in_class_order():
    labels = np.array([[0, 0, 2, 2, 2]], np.uint8)
    shares = class_shares(labels, CLASSES)
    assert shares == {'a': 0.4, 'b': 0.0, 'c': 0.6}
    assert sum(shares.values()) == pytest.approx(1)


def test_float16_ties_are_broken_toward_the_label():
    """Logits 1e-4 apart round to equal float16 probabilities; the
    label's goes one step up, so argmax still gives the label."""
    logits = torch.zeros(3, 1, 4)
    logits[1] = 1e-4  # class 1 wins by a hair everywhere
    logits[0, 0, 3] = 5.0  # and class 0 clearly at one pixel
    sample = sample_of(logits)
    labels = label_map(sample)
    plain = torch.softmax(logits, 0).numpy().astype(np.float16)
    assert (plain.argmax(0) != labels).any()  # the tie exists
    probs = probabilities(sample, labels)
    assert probs.dtype == np.float16
    np.testing.assert_array_equal(probs.argmax(0), labels)
    np.testing.assert_allclose(probs, plain, atol=1e-3)


def test_one_channel_heads_give_sigmoid():
    logits = torch.tensor([[[0.0, 2.0]]])
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=logits)
    sample.pred_sem_seg = PixelData(data=(logits > 0).long())
    probs = probabilities(sample, label_map(sample))
    np.testing.assert_allclose(probs[0, 0], [0.5, 0.8808], atol=1e-3)


def test_npz_and_overlay_answers(sample, visualizer):
    image = np.full((6, 10, 3), 100, np.uint8)
    answer = encode(sample, image, Query(probs=True), CLASSES, visualizer)
    assert answer.media_type == NPZ
    arrays = np.load(io.BytesIO(answer.body))
    np.testing.assert_array_equal(arrays['labels'], label_map(sample))
    assert arrays['probs'].shape == (3, 6, 10)
    answer = encode(sample, image, Query(overlay=True), CLASSES, visualizer)
    overlay = png(answer.body)  # BGR
    colour = np.asarray(PALETTE)[label_map(sample)][..., ::-1]
    np.testing.assert_allclose(overlay, 0.5 * 100 + 0.5 * colour, atol=1)


def test_json_holds_shares_and_every_file(sample, visualizer):
    answer = encode(sample, np.zeros((6, 10, 3), np.uint8),
                    Query('json', True, True), CLASSES, visualizer)
    assert answer.media_type == JSON
    body = json.loads(answer.body)
    assert body['classes'] == CLASSES and (body['height'], body['width']) \
        == (6, 10)
    labels = png(base64.b64decode(body['labels_png']))
    np.testing.assert_array_equal(labels, label_map(sample))
    assert body['shares'] == class_shares(labels, CLASSES)
    assert {'probs_npz', 'overlay_png'} <= set(body)
