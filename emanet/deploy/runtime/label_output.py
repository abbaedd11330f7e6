"""Prediction with an exported file that outputs labels (``--output label``).

The file computes the segmentor's two resizes and the argmax itself
(:mod:`~emanet.deploy.runtime.export`), for the output size it is given.
What cannot be done on labels is refused in one line: averaging slide
windows or test-time views (class scores are needed), and the resize of
a padded input (the padding must be cut off between the two resizes,
inside the file).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.structures import PixelData
from torch import Tensor

from emanet.structures import SegDataSample
from emanet.utils.errors import UserError

WHY = ('export with --output logits or prob (tools/deployment/'
       'pytorch2onnx.py), which give the same labels')


def check_label_mode(segmentor) -> None:
    """Refuse slide inference for a label file (windows are averaged)."""
    mode = segmentor.test_cfg.get('mode', 'whole')
    if mode != 'whole':
        raise UserError(
            f'{segmentor.model_file} outputs labels only, but '
            f'model.test_cfg.mode={mode!r} averages the class scores of '
            f'overlapping windows: {WHY}, or use mode=whole')


def _plan(meta: dict, input_size: Tuple[int, int],
          model_file: str) -> Tuple[Tuple[int, int], Sequence[int]]:
    """The output size to ask for and the padding to cut off after.

    Args:
        meta: the sample's metainfo.
        input_size: ``(H, W)`` of the (padded) batch.

    Returns:
        tuple: ``(H0, W0)`` for the file, and ``(left, right, top,
        bottom)`` padding of its output (zeros when it is at
        ``ori_shape``).
    """
    height, width = input_size
    padding = list(meta.get('img_padding_size',
                            meta.get('padding_size', [0] * 4)))
    ori_shape = tuple(meta.get('ori_shape', input_size)[:2])
    if not any(padding):
        return ori_shape, [0] * 4
    left, right, top, bottom = padding
    unpadded = (height - top - bottom, width - left - right)
    if unpadded != ori_shape:
        raise UserError(
            f'{model_file} outputs labels only, but this image is padded '
            f'({unpadded[0]}x{unpadded[1]} to {height}x{width}) and then '
            f'resized to {ori_shape[0]}x{ori_shape[1]}: the padding must '
            f'be cut off between the two resizes; {WHY}, or drop '
            'data_preprocessor.test_cfg')
    return input_size, padding


def predict_labels(segmentor, inputs: Tensor,
                   data_samples: Optional[List[SegDataSample]]
                   ) -> List[SegDataSample]:
    """Labels of a whole-inference batch at each image's original size.

    Args:
        segmentor: a backend segmentor of a ``'label'`` file.
        inputs: the normalised batch ``[B, 3, H, W]``.
        data_samples: their samples (metainfo: ``ori_shape``, padding,
            flip), or None for labels at the input size.

    Returns:
        list: the samples with ``pred_sem_seg`` ``[1, H0, W0]`` (int64,
        as the PyTorch segmentor's); no ``seg_logits``.
    """
    input_size = tuple(inputs.shape[2:])
    if data_samples is None:
        data_samples = [SegDataSample() for _ in range(inputs.shape[0])]
    plans = [_plan(s.metainfo, input_size, segmentor.model_file)
             for s in data_samples]
    # one runtime call per output size
    groups: Dict[Tuple[int, int], List[int]] = {}
    for i, (size, _) in enumerate(plans):
        groups.setdefault(tuple(size), []).append(i)
    labels: List[Optional[Tensor]] = [None] * len(plans)
    for size, indices in groups.items():
        out = segmentor.network_output(inputs[indices], size)
        for j, i in enumerate(indices):
            labels[i] = out[j]  # [1, H0, W0]
    for sample, label, (_, padding) in zip(data_samples, labels, plans):
        left, right, top, bottom = padding
        height, width = label.shape[1:]
        label = label[:, top:height - bottom, left:width - right]
        meta = sample.metainfo
        if meta.get('flip', False):
            direction = meta.get('flip_direction', 'horizontal')
            label = label.flip(dims=(2 if direction == 'horizontal'
                                     else 1, ))
        sample.set_data(dict(pred_sem_seg=PixelData(
            data=label.to(torch.int64).contiguous())))
    return data_samples
