"""Geometric transforms (mmcv provides Resize, RandomResize, RandomFlip)."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from emanet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop a random ``crop_size`` window from the image and label maps.

    With ``cat_max_ratio < 1`` the window is redrawn (up to 10 times) while
    one class covers ``cat_max_ratio`` or more of its labelled pixels, or
    only one class is present; the 10th draw is kept. Images smaller than
    ``crop_size`` are not padded: the crop is then the whole side.

    Required Keys:

    - img
    - gt_seg_map (and any other key in ``seg_fields``)

    Modified Keys:

    - img
    - img_shape
    - gt_seg_map (and the other ``seg_fields``)

    Args:
        crop_size: ``(h, w)`` of the crop, or one int for both.
        cat_max_ratio: largest share of one class in the crop.
        ignore_index: label left out of the class shares.
    """

    def __init__(self,
                 crop_size: Union[int, Sequence[int]],
                 cat_max_ratio: float = 1.,
                 ignore_index: int = 255) -> None:
        super().__init__()
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError('crop_size must be a positive int or (h, w), '
                             f'got {crop_size}')
        self.crop_size = tuple(int(s) for s in crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _random_bbox(self, shape: Tuple[int, int]) -> Tuple[int, ...]:
        margin_h = max(shape[0] - self.crop_size[0], 0)
        margin_w = max(shape[1] - self.crop_size[1], 0)
        y1 = np.random.randint(0, margin_h + 1)
        x1 = np.random.randint(0, margin_w + 1)
        return y1, y1 + self.crop_size[0], x1, x1 + self.crop_size[1]

    @staticmethod
    def crop(img: np.ndarray, bbox: Tuple[int, ...]) -> np.ndarray:
        """``img[y1:y2, x1:x2]`` for ``bbox = (y1, y2, x1, x2)``."""
        y1, y2, x1, x2 = bbox
        return img[y1:y2, x1:x2, ...]

    @cache_randomness
    def crop_bbox(self, results: dict) -> Tuple[int, ...]:
        """Draw the crop window ``(y1, y2, x1, x2)``."""
        shape = results['img'].shape[:2]
        bbox = self._random_bbox(shape)
        if self.cat_max_ratio < 1.:
            for _ in range(10):
                seg = self.crop(results['gt_seg_map'], bbox)
                labels, cnt = np.unique(seg, return_counts=True)
                cnt = cnt[labels != self.ignore_index]
                if len(cnt) > 1 and cnt.max() / cnt.sum() < \
                        self.cat_max_ratio:
                    break
                bbox = self._random_bbox(shape)
        return bbox

    def transform(self, results: dict) -> dict:
        bbox = self.crop_bbox(results)
        img = self.crop(results['img'], bbox)
        for key in results.get('seg_fields', []):
            results[key] = self.crop(results[key], bbox)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, '
                f'ignore_index={self.ignore_index})')
