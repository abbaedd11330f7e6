"""A replica's model on batches of requests."""
import cv2
import mmcv
import numpy as np
import pytest
import torch

import emanet.serving.predictor as predictor
from emanet.serving.errors import RequestError
from emanet.serving.predictor import Predictor, segment_images
from emanet.serving.queries import Query
from emanet.utils.errors import UserError

from helpers.label_match import assert_labels_match


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.serving
def test_batches_equal_inference_model_one_image_at_a_time(
        models, references, one_thread):
    """Images of two sizes in one batch: each answer is
    ``inference_model``'s on that image alone."""
    from emanet.apis import inference_model
    runner = Predictor(models.config, models.checkpoint, threads=1)
    assert runner.threads == torch.get_num_threads() == 1
    images = [mmcv.imread(path) for path in models.images[:3]]
    small = cv2.resize(images[0], (256, 128))
    answers = runner.run([(image, Query()) for image in
                          [images[0], small, images[1], images[2]]])
    expected = [references['ckpt'][p] for p in models.images[:3]]
    expected.insert(1, inference_model(runner.model, small))
    for answer, sample in zip(answers, expected):
        labels = cv2.imdecode(np.frombuffer(answer.body, np.uint8),
                              cv2.IMREAD_UNCHANGED)
        assert_labels_match(labels, sample)
        assert answer.batch_size == 4


def test_an_error_fails_only_its_batch(monkeypatch):
    def inference(model, images):
        if images[0].shape[0] == 8:
            raise UserError('m.onnx takes 1x3x16x16 inputs')
        if images[0].shape[0] == 9:
            raise ValueError('a bug')
        return [f'sample {image.shape[0]}' for image in images]
    monkeypatch.setattr(predictor, 'inference_model', inference)
    images = [np.zeros((h, 4, 3), np.uint8) for h in (16, 8, 16, 9, 8)]
    results = segment_images(None, images)
    assert results[0] == results[2] == 'sample 16'
    for i in (1, 4):
        assert isinstance(results[i], RequestError)
        assert results[i].status == 422
        assert 'takes 1x3x16x16' in results[i].message
    assert isinstance(results[3], ValueError)
