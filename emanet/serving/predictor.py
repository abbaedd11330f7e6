"""The model of one replica: built once, run on batches of requests."""
import os
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from emanet.apis import inference_model, init_model
from emanet.structures import SegDataSample
from emanet.utils.errors import UserError

from .encoding import Encoded, encode
from .errors import RequestError
from .model_info import describe
from .queries import Query


def segment_images(model: nn.Module, images: Sequence[np.ndarray]
                   ) -> List[Union[SegDataSample, Exception]]:
    """Predictions for BGR ``[H, W, 3]`` images, in order.

    Images of one size run as one batch of :func:`inference_model` (the
    test pipeline gives them one network input size); an error fails only
    its batch's images and is returned in their place: a
    :class:`UserError` (e.g. a static ``.onnx`` given another size) as a
    422 :class:`RequestError`.
    """
    groups: Dict[Tuple[int, ...], List[int]] = defaultdict(list)
    for i, image in enumerate(images):
        groups[image.shape].append(i)
    results: List[Union[SegDataSample, Exception]] = [None] * len(images)
    for indices in groups.values():
        try:
            samples = inference_model(model, [images[i] for i in indices])
        except UserError as err:
            samples = [RequestError(422, str(err))] * len(indices)
        except Exception as err:  # a bug: a 500 for this batch only
            samples = [err] * len(indices)
        for i, sample in zip(indices, samples):
            results[i] = sample
    return results


class Predictor:
    """Builds the model with :func:`init_model` and runs
    :func:`inference_model` (the config's test pipeline and ``test_step``)
    on batches.

    Args:
        config: the config file.
        model_file: checkpoint, ``.onnx`` or int8 ``.xml``; None for
            random weights.
        threads: torch's (and the runtime's) thread count, set before the
            model is built (ONNX Runtime and OpenVINO read it then).
        device: where a PyTorch model runs (``'cpu'``, ``'cuda'``).
        cfg_options: overrides merged into the config.
    """

    def __init__(self, config: str, model_file: Optional[str],
                 threads: int = 1, device: str = 'cpu',
                 cfg_options: Optional[dict] = None) -> None:
        torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self.model = init_model(config, model_file, device=device,
                                cfg_options=cfg_options)
        self.info = describe(self.model, config, model_file)
        from emanet.visualization import SegLocalVisualizer
        self.visualizer = SegLocalVisualizer(
            name=f'serving_{os.getpid()}_{id(self)}',
            classes=self.info['classes'], palette=self.info['palette'],
            alpha=0.5)

    def segment(self, images: Sequence[np.ndarray]
                ) -> List[Union[SegDataSample, Exception]]:
        """:func:`segment_images` with this replica's model."""
        return segment_images(self.model, images)

    def run(self, items: Sequence[Tuple[np.ndarray, Query]]
            ) -> List[Union[Encoded, Exception]]:
        """The answers to a batch of ``(image, query)`` requests."""
        samples = self.segment([image for image, _ in items])
        answers: List[Union[Encoded, Exception]] = []
        for (image, query), sample in zip(items, samples):
            if isinstance(sample, Exception):
                answers.append(sample)
            else:
                answer = encode(sample, image, query, self.info['classes'],
                                self.visualizer)
                answer.batch_size = len(items)
                answers.append(answer)
        return answers
