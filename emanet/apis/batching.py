"""Batches of images of any sizes, with the labels of one at a time.

EMANet's attention reads the whole feature map, so the padding that
would stack images of different sizes changes every pixel's logits (the
EM bases are computed over the padded zeros too). A batch is therefore
split by input size: images of one size run together (a real batch, as
the test data loader gives), each size in its own forward. The inferencer
(:mod:`emanet.apis.inferencer`), :func:`~emanet.apis.inference_model`
and the HTTP service batch through :func:`predict_batch`;
:func:`stream_predictions` runs a data set of any length through it with
the reading in data loader workers.
"""
from typing import Dict, Iterator, List, Tuple

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from emanet.structures import SegDataSample
from emanet.utils.heap import release_free_memory


def size_groups(inputs: List[torch.Tensor]) -> List[List[int]]:
    """Indices of ``inputs`` ``[3, H, W]`` grouped by shape, in the order
    of their first image."""
    groups: Dict[Tuple[int, ...], List[int]] = {}
    for i, img in enumerate(inputs):
        groups.setdefault(tuple(img.shape), []).append(i)
    return list(groups.values())


def predict_batch(model: nn.Module, data: dict) -> List[SegDataSample]:
    """``model.test_step`` on a collated batch, one forward per size.

    Args:
        model: a segmentor in eval mode (PyTorch or exported).
        data: ``inputs`` (``[3, H, W]`` tensors) and ``data_samples``,
            e.g. :func:`~mmengine.dataset.pseudo_collate` of the test
            pipeline's outputs.

    Returns:
        list: one :class:`SegDataSample` per image, in order; the same
        predictions as one image at a time (within float rounding: the
        batched convolutions may sum in another order).
    """
    inputs, samples = data['inputs'], data['data_samples']
    groups = size_groups(inputs)
    with torch.no_grad():
        if len(groups) == 1:
            return model.test_step(data)
        results: List[SegDataSample] = [None] * len(inputs)
        for indices in groups:
            out = model.test_step(dict(
                inputs=[inputs[i] for i in indices],
                data_samples=[samples[i] for i in indices]))
            for i, sample in zip(indices, out):
                results[i] = sample
    return results


def stream_predictions(model: nn.Module, dataset, batch_size: int = 1,
                       num_workers: int = 0, progress: bool = True
                       ) -> Iterator[List[Tuple[dict, SegDataSample]]]:
    """Predict a data set batch by batch, reading ahead in workers.

    The data set's items are dicts: ``inputs`` and ``data_samples`` of
    one image (e.g. :class:`~emanet.apis.inputs.SourceDataset`), or an
    ``error`` for an image that could not be read, yielded without a
    prediction for the caller to judge. Only the batches in flight are in
    memory, whatever the data set's length; the heap's freed pages go back
    to the system after each batch.

    Args:
        model: the segmentor.
        dataset: the items, read in order.
        batch_size: images per batch (one forward per size within it).
        num_workers: data loader processes reading ahead (0: none).
        progress: a progress bar counting images.

    Yields:
        list: ``(item, sample)`` per image of a batch, ``sample`` None for
        an ``error`` item.
    """
    from tqdm import tqdm
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=_as_list)
    bar = tqdm(total=len(dataset), unit='img', desc='inference',
               dynamic_ncols=True, disable=not progress)
    try:
        for items in loader:
            good = [item for item in items if 'error' not in item]
            samples = iter(predict_batch(model, dict(
                inputs=[item['inputs'] for item in good],
                data_samples=[item['data_samples'] for item in good]))
                if good else [])
            yield [(item, None if 'error' in item else next(samples))
                   for item in items]
            bar.update(len(items))
            # the batch is written and freed: keep the heap at one batch
            release_free_memory()
    finally:
        bar.close()


def _as_list(items: list) -> list:
    """The data loader's collate function: the items as they are."""
    return items
