"""SegDataSample: one image's annotation and prediction."""
from mmengine.structures import BaseDataElement, PixelData


class SegDataSample(BaseDataElement):
    """Container for one image's segmentation data.

    Fields (each a :class:`mmengine.structures.PixelData`, data of shape
    ``[C, H, W]``):

    - ``gt_sem_seg``: ground-truth label map, ``[1, H, W]`` long.
    - ``seg_logits``: class scores at the original image size,
      ``[num_classes, H, W]``.
    - ``pred_sem_seg``: predicted label map, ``[1, H, W]`` long.

    Image meta information (``img_path``, ``ori_shape``, ``img_shape``,
    ``flip``, ...) lives in ``metainfo``.
    """

    @property
    def gt_sem_seg(self) -> PixelData:
        return self._gt_sem_seg

    @gt_sem_seg.setter
    def gt_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_gt_sem_seg', dtype=PixelData)

    @gt_sem_seg.deleter
    def gt_sem_seg(self) -> None:
        del self._gt_sem_seg

    @property
    def seg_logits(self) -> PixelData:
        return self._seg_logits

    @seg_logits.setter
    def seg_logits(self, value: PixelData) -> None:
        self.set_field(value, '_seg_logits', dtype=PixelData)

    @seg_logits.deleter
    def seg_logits(self) -> None:
        del self._seg_logits

    @property
    def pred_sem_seg(self) -> PixelData:
        return self._pred_sem_seg

    @pred_sem_seg.setter
    def pred_sem_seg(self, value: PixelData) -> None:
        self.set_field(value, '_pred_sem_seg', dtype=PixelData)

    @pred_sem_seg.deleter
    def pred_sem_seg(self) -> None:
        del self._pred_sem_seg
