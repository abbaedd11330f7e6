"""PackSegInputs: results dict → model inputs and a SegDataSample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from emanet.registry import TRANSFORMS
from emanet.structures import SegDataSample


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """Pack the image as a tensor and the label map into a SegDataSample.

    Required Keys:

    - img (``[H, W, C]`` or ``[H, W]``)
    - gt_seg_map (optional, ``[H, W]``)
    - the ``meta_keys`` present in ``results``

    Modified Keys:

    - inputs (added): ``[C, H, W]`` tensor, same dtype as ``img``
    - data_samples (added): :class:`SegDataSample` with ``gt_sem_seg``
      (``[1, H, W]`` long) and the meta keys as metainfo

    Args:
        meta_keys: keys copied into the sample's metainfo when present.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = (
                     'img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                     'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                     'reduce_zero_label')) -> None:
        self.meta_keys = meta_keys

    def transform(self, results: dict) -> dict:
        packed = dict()
        if 'img' in results:
            img = results['img']
            if img.ndim < 3:
                img = img[..., None]
            # [H, W, C] -> [C, H, W], contiguous for the collate.
            packed['inputs'] = torch.from_numpy(
                np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            seg = results['gt_seg_map']
            if seg.ndim == 2:
                seg = seg[None]
            sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(seg.astype(np.int64)))  # [1, H, W]
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
