"""BaseSegmentor: what every segmentor shares around its network.

Preprocessing, whole or slide inference, resize to the padded input,
padding/flip undo, resize to the original size and argmax live here; a
subclass gives the network (:meth:`BaseSegmentor._forward`, raw logits of a
normalised batch) and the training loss. :class:`EncoderDecoder` runs a
backbone and heads; the backend segmentors of
:mod:`emanet.deploy.runtime.backends` run an exported file.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor

from emanet.registry import MODELS
from emanet.structures import SegDataSample

from ..utils import resize, to_2tuple
from .prediction import resized_argmax, seg_logits_mode

SampleList = List[SegDataSample]
Window = Tuple[int, int, int, int]


def slide_windows(img_size: Tuple[int, int], crop_size: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Window]:
    """Crop windows ``(y1, y2, x1, x2)`` covering an image, row by row.

    Windows are shifted back inside the image at the bottom/right border, so
    all have the crop size (or the image size where that is smaller).
    """
    (h_img, w_img), (h_crop, w_crop) = img_size, crop_size
    h_stride, w_stride = stride
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, h_img)
            x2 = min(w_idx * w_stride + w_crop, w_img)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


class BaseSegmentor(BaseModel):
    """Segmentor whose subclasses give only the network and the loss.

    ``forward(inputs, data_samples=None, mode='tensor'|'predict'|'loss')``:

    - ``'loss'``: dict of losses (:meth:`loss`);
    - ``'predict'``: :class:`SegDataSample` s with ``seg_logits`` and
      ``pred_sem_seg`` at the original image size (``seg_logits`` as
      ``test_cfg.seg_logits`` says: by default there too);
    - ``'tensor'``: the network's raw logits ``[B, K, H/8, W/8]``.

    A subclass sets ``out_channels`` (logit channels) in its ``__init__``.

    Args:
        data_preprocessor (dict | nn.Module, optional): e.g.
            ``SegDataPreProcessor``.
        test_cfg (dict, optional): ``mode='whole'`` (default) or
            ``mode='slide'`` with ``crop_size``, ``stride`` and optionally
            ``slide_batch_size`` (windows per network forward, default 1);
            ``seg_logits``: the scores ``predict`` keeps, ``'original'``
            (default), ``'input'`` or ``'none'``
            (:meth:`postprocess_result`).
        align_corners (bool): of the logits' resizes.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            # built from our registry so no default scope is needed
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.test_cfg = test_cfg if test_cfg is not None else {}
        self.align_corners = align_corners

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], SampleList,
                                               Tensor]:
        """Dispatch on ``mode``; ``inputs`` is the batch ``[B, 3, H, W]``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or '
                           'tensor')

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Logits ``[B, K, H, W]`` resized to the padded input size.

        The network runs in :meth:`_forward`, the only step that an
        exported model (:mod:`emanet.deploy.runtime.backends`) replaces.
        """
        meta = batch_img_metas[0]
        size = meta.get('pad_shape', meta['img_shape'])[:2]
        return resize(self._forward(inputs), size=size, mode='bilinear',
                      align_corners=self.align_corners)

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[SampleList] = None) -> Tensor:
        """Raw logits ``[B, K, H/8, W/8]`` of the network."""
        raise NotImplementedError

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of a training step."""
        raise NotImplementedError

    def predict(self, inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Segment ``inputs`` ``[B, 3, H, W]``; see :meth:`postprocess_result`
        for the returned samples."""
        if data_samples is not None:
            batch_img_metas = [sample.metainfo for sample in data_samples]
        else:
            shape = tuple(inputs.shape[2:])
            batch_img_metas = [
                dict(ori_shape=shape, img_shape=shape, pad_shape=shape,
                     padding_size=[0, 0, 0, 0])
            ] * inputs.shape[0]
        seg_logits = self.inference(inputs, batch_img_metas)
        return self.postprocess_result(seg_logits, data_samples)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Logits ``[B, K, H, W]`` at the input size, by ``test_cfg.mode``."""
        mode = self.test_cfg.get('mode', 'whole')
        if mode == 'slide':
            return self.slide_inference(inputs, batch_img_metas)
        if mode == 'whole':
            return self.whole_inference(inputs, batch_img_metas)
        raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got "
                         f'{mode!r}')

    def whole_inference(self, inputs: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """One forward of the whole batch -> ``[B, K, H, W]``."""
        return self.encode_decode(inputs, batch_img_metas)

    def slide_inference(self, inputs: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Average the logits of overlapping crop windows -> ``[B, K, H, W]``.

        ``test_cfg.slide_batch_size`` windows (of every image in the batch)
        go through the network together.
        """
        crop_size = to_2tuple(self.test_cfg['crop_size'])
        stride = to_2tuple(self.test_cfg['stride'])
        group = int(self.test_cfg.get('slide_batch_size', 1))
        if group < 1:
            raise ValueError('test_cfg.slide_batch_size must be >= 1, got '
                             f'{group}')
        b, _, h_img, w_img = inputs.shape
        windows = slide_windows((h_img, w_img), crop_size, stride)
        preds = inputs.new_zeros((b, self.out_channels, h_img, w_img))
        count = inputs.new_zeros((b, 1, h_img, w_img))  # [B, 1, H, W]
        for start in range(0, len(windows), group):
            chunk = windows[start:start + group]
            crops = torch.cat([inputs[:, :, y1:y2, x1:x2]
                               for y1, y2, x1, x2 in chunk])  # [G*B, 3, h, w]
            crop_shape = tuple(crops.shape[2:])
            metas = [dict(meta, img_shape=crop_shape, pad_shape=crop_shape)
                     for meta in batch_img_metas] * len(chunk)
            logits = self.encode_decode(crops, metas)  # [G*B, K, h, w]
            for j, (y1, y2, x1, x2) in enumerate(chunk):
                preds[:, :, y1:y2, x1:x2] += logits[j * b:(j + 1) * b]
                count[:, :, y1:y2, x1:x2] += 1
        return preds / count  # [B, K, H, W]

    def postprocess_result(self, seg_logits: Tensor,
                           data_samples: Optional[SampleList] = None
                           ) -> SampleList:
        """Undo padding, flip and resize; add ``pred_sem_seg``
        ``[1, H0, W0]`` at ``ori_shape`` and ``seg_logits`` as
        ``test_cfg.seg_logits`` says: ``[K, H0, W0]`` at ``ori_shape``
        (``'original'``, the default), ``[K, h, w]`` at the input size
        (``'input'``) or none (``'none'``). The labels are the same in all
        three; without the original-size scores they need a few times the
        image's memory (:func:`resized_argmax`), not ``K`` float planes.

        Without ``data_samples`` the logits are kept at the input size.
        """
        keep = seg_logits_mode(self.test_cfg)
        batch_size, _, height, width = seg_logits.shape
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i in range(batch_size):
            logits = seg_logits[i:i + 1]  # [1, K, H, W]
            ori_shape = (height, width)
            if not only_prediction:
                meta = data_samples[i].metainfo
                left, right, top, bottom = meta.get(
                    'img_padding_size', meta.get('padding_size', [0] * 4))
                logits = logits[:, :, top:height - bottom,
                                left:width - right]  # [1, K, h, w]
                if meta.get('flip', False):
                    direction = meta.get('flip_direction', 'horizontal')
                    if direction not in ('horizontal', 'vertical'):
                        raise ValueError('flip_direction must be horizontal '
                                         f'or vertical, got {direction!r}')
                    dim = 3 if direction == 'horizontal' else 2
                    logits = logits.flip(dims=(dim,))  # [1, K, h, w]
                ori_shape = tuple(meta['ori_shape'][:2])
                # NCHW (a copy at the input size, cheap): the resize then
                # runs one kernel whether the classes go together or one
                # at a time, so every test_cfg.seg_logits gives one label
                logits = logits.contiguous()
            fields = {}
            if keep == 'original':
                # a bilinear resize to the same size is the identity:
                # skipping it saves a pass over [K, H0, W0] per image
                if tuple(logits.shape[2:]) != ori_shape:
                    logits = resize(logits, size=ori_shape, mode='bilinear',
                                    align_corners=self.align_corners)
                fields['seg_logits'] = logits.squeeze(0)  # [K, H0, W0]
                # max's indices are argmax's (the first maximum, NaN
                # counted as the largest), 3x faster on CPU over the
                # channel dim
                pred = logits[0].max(dim=0, keepdim=True)[1]  # [1, H0, W0]
            else:
                pred = resized_argmax(logits, ori_shape, self.align_corners)
                if keep == 'input':
                    fields['seg_logits'] = logits.squeeze(0)  # [K, h, w]
            fields['pred_sem_seg'] = pred
            data_samples[i].set_data(
                {k: PixelData(data=v) for k, v in fields.items()})
        return data_samples
