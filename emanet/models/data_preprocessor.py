"""SegDataPreProcessor: normalise, convert colour order, pad and stack."""
from numbers import Number
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from emanet.registry import MODELS
from emanet.structures import SegDataSample


def stack_batch(inputs: List[Tensor],
                data_samples: Optional[List[SegDataSample]] = None,
                size: Optional[Tuple[int, int]] = None,
                size_divisor: Optional[int] = None,
                pad_val: Number = 0,
                seg_pad_val: Number = 255
                ) -> Tuple[Tensor, List[Dict[str, Any]]]:
    """Pad images ``[C, H_i, W_i]`` at the bottom/right and stack them.

    Pads to ``size`` (``(H, W)``) or to the batch's largest size rounded up
    to ``size_divisor``. Ground-truth maps of ``data_samples`` are padded in
    place with ``seg_pad_val``.

    Returns:
        tuple: the batch ``[B, C, H, W]`` and, per image, the padding info
        ``img_shape``, ``pad_shape``, ``padding_size`` (left, right, top,
        bottom).
    """
    if (size is None) == (size_divisor is None):
        raise ValueError('pad with exactly one of size and size_divisor, got '
                         f'size={size}, size_divisor={size_divisor}')
    if size is not None:
        target_h, target_w = size
    else:
        target_h = max(img.shape[-2] for img in inputs)
        target_w = max(img.shape[-1] for img in inputs)
        target_h = -(-target_h // size_divisor) * size_divisor
        target_w = -(-target_w // size_divisor) * size_divisor
    padded, infos = [], []
    for i, img in enumerate(inputs):
        h, w = img.shape[-2:]
        padding = (0, max(target_w - w, 0), 0, max(target_h - h, 0))
        padded.append(F.pad(img, padding, value=pad_val))  # [C, Hp, Wp]
        if data_samples is not None and 'gt_sem_seg' in data_samples[i]:
            gt = data_samples[i].gt_sem_seg
            label = gt.data  # [1, H, W]
            del gt.data  # PixelData refuses a new size otherwise
            gt.data = F.pad(label, padding, value=seg_pad_val)  # [1, Hp, Wp]
        infos.append(dict(img_shape=(h, w),
                          pad_shape=tuple(padded[-1].shape[-2:]),
                          padding_size=padding))
    return torch.stack(padded), infos  # [B, C, Hp, Wp]


@MODELS.register_module()
class SegDataPreProcessor(BaseDataPreprocessor):
    """Turn a collated batch into network input, as in mmsegmentation 1.x.

    Training: colour conversion, normalisation, then padding of images (with
    ``pad_val``) and labels (with ``seg_pad_val``) to ``size`` or to a
    multiple of ``size_divisor``. Testing: same, but padding only follows
    ``test_cfg`` (``size`` or ``size_divisor``); without it the images of
    a batch must share one size. Padding info (``img_shape``, ``pad_shape``,
    ``padding_size``, ``batch_input_shape``) goes into each sample's
    metainfo; the prediction is cropped back by the segmentor.

    Args:
        mean (Sequence[Number], optional): per-channel mean (of the output
            channel order).
        std (Sequence[Number], optional): per-channel std.
        size (tuple, optional): training pad size ``(H, W)``.
        size_divisor (int, optional): training pad divisor.
        pad_val (Number): image padding value. Default: 0.
        seg_pad_val (Number): label padding value. Default: 255.
        bgr_to_rgb (bool): swap channels 0 and 2 of 3-channel images.
        rgb_to_bgr (bool): same swap (named for the other direction).
        batch_augments (list[dict], optional): not supported, must be None.
        test_cfg (dict, optional): ``size`` or ``size_divisor`` for padding
            at test time.
    """

    def __init__(self,
                 mean: Optional[Sequence[Number]] = None,
                 std: Optional[Sequence[Number]] = None,
                 size: Optional[Tuple[int, int]] = None,
                 size_divisor: Optional[int] = None,
                 pad_val: Number = 0,
                 seg_pad_val: Number = 255,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 batch_augments: Optional[List[dict]] = None,
                 test_cfg: Optional[dict] = None) -> None:
        super().__init__()
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError('set at most one of bgr_to_rgb and rgb_to_bgr')
        if batch_augments is not None:
            raise NotImplementedError('batch_augments is not supported')
        if (mean is None) != (std is None):
            raise ValueError('normalisation needs both mean and std')
        self.size = size
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.channel_conversion = bgr_to_rgb or rgb_to_bgr
        self.batch_augments = batch_augments
        self.test_cfg = test_cfg
        self._enable_normalize = mean is not None
        if mean is not None:
            self.register_buffer(
                'mean', torch.tensor(mean).view(-1, 1, 1), False)  # [C,1,1]
            self.register_buffer(
                'std', torch.tensor(std).view(-1, 1, 1), False)  # [C, 1, 1]

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """``data['inputs']``: list of ``[C, H, W]`` images (any dtype) ->
        ``dict(inputs=[B, C, H', W'] float, data_samples=...)``."""
        data = self.cast_data(data)
        inputs = data['inputs']
        samples = data.get('data_samples', None)
        if isinstance(inputs, Tensor) and inputs.dim() == 4:
            inputs = list(inputs)
        if self.channel_conversion and inputs[0].size(0) == 3:
            inputs = [img[[2, 1, 0], ...] for img in inputs]  # [3, H, W]
        inputs = [img.float() for img in inputs]
        if self._enable_normalize:
            # the subtraction makes a new tensor: divide that in place
            inputs = [(img - self.mean).div_(self.std) for img in inputs]
        if training:
            if samples is None:
                raise ValueError('training needs data_samples with labels')
            size, divisor = self.size, self.size_divisor
        else:
            cfg = self.test_cfg or {}
            size, divisor = cfg.get('size'), cfg.get('size_divisor')
        if size is None and divisor is None:
            if len({tuple(img.shape) for img in inputs}) != 1:
                raise ValueError(
                    'images of a batch differ in size; set '
                    'data_preprocessor.size/size_divisor (training) or '
                    'data_preprocessor.test_cfg (testing) to pad them')
            batch = torch.stack(inputs)  # [B, C, H, W]
            infos = [dict(pad_shape=tuple(batch.shape[-2:]),
                          padding_size=(0, 0, 0, 0))] * len(inputs)
            if not training:
                infos = [dict() for _ in inputs]  # metainfo left as is
        else:
            batch, infos = stack_batch(inputs, samples, size, divisor,
                                       self.pad_val, self.seg_pad_val)
            if not training:
                # testing keeps the pipeline's img_shape (mmseg does too)
                infos = [{k: v for k, v in info.items() if k != 'img_shape'}
                         for info in infos]
        if samples is not None:
            for sample, info in zip(samples, infos):
                sample.set_metainfo(dict(
                    info, batch_input_shape=tuple(batch.shape[-2:])))
        return dict(inputs=batch, data_samples=samples)
