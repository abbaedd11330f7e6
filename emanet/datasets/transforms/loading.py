"""Loading transforms: images (mmcv's, with clearer errors) and label maps.
"""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile

from emanet.registry import TRANSFORMS
from emanet.utils.errors import BadDataError, MissingDataError


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` whose decode errors name the file.

    mmcv fails on an undecodable file with a bare assertion or a decoder
    exception; this raises :class:`BadDataError` naming the image instead.
    Same arguments, keys and behaviour as mmcv's transform otherwise.

    Required Keys:

    - img_path

    Modified Keys:

    - img
    - img_shape
    - ori_shape
    """

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError as e:
            raise MissingDataError(
                f'Image {filename} does not exist; restore it or remove it '
                'from the data set') from e
        except Exception as e:
            if self.ignore_empty:
                return None
            raise BadDataError(
                f'Cannot decode image {filename}: the file is corrupt or not '
                f'an image ({type(e).__name__}: {e}). Re-extract it or remove'
                ' it from the data set.') from e


@TRANSFORMS.register_module()
class LoadAnnotations(BaseTransform):
    """Load a semantic segmentation label map at its bit depth.

    8- and 16-bit PNGs are read as stored, so that a 16-bit value of 256
    is an invalid label, never class 0; the checked map is ``uint8`` when
    all its values fit, else it keeps the file's type.

    Also checks the label map against its image: same size as
    ``ori_shape`` and every value a class index (``< num_classes``) or
    ``ignore_index``; a bad file raises :class:`BadDataError` naming it
    and its bad values as stored. With ``reduce_zero_label`` a stored 256
    (which the shift would turn into 255, ignore) is refused too, even
    without ``num_classes``. A ``1xW`` or ``Hx1`` map stays 2-D.

    Required Keys:

    - seg_map_path
    - reduce_zero_label (when the ``reduce_zero_label`` argument is None)
    - label_map (optional): old label → new label
    - num_classes (optional, added by the data set): enables value check
    - ori_shape, img_path (optional): enable the size check

    Modified Keys:

    - gt_seg_map (``[H, W]`` uint8; the file's type for values > 255)
    - seg_fields (``'gt_seg_map'`` appended)

    Args:
        reduce_zero_label: map 0 to 255 and shift other labels down by
            one; ``None`` takes the data set's setting from ``results``.
        backend_args: mmengine file backend arguments.
        imdecode_backend: decoder for :func:`mmcv.imfrombytes`.
        num_classes: number of classes for the value check; ``None`` uses
            ``results['num_classes']`` (set by the data set), and skips the
            check when that is absent too.
        ignore_index: the label value of ignored pixels.
    """

    def __init__(self,
                 reduce_zero_label: Optional[bool] = None,
                 backend_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow',
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = backend_args.copy() if backend_args else None
        self.imdecode_backend = imdecode_backend
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _read(self, path: str) -> np.ndarray:
        data = fileio.get(path, backend_args=self.backend_args)
        try:
            seg = mmcv.imfrombytes(
                data, flag='unchanged', backend=self.imdecode_backend)
        except Exception as e:
            raise BadDataError(
                f'Cannot decode label map {path} ({type(e).__name__}: {e}); '
                're-create it with tools/dataset_converters/cityscapes.py'
            ) from e
        if seg is None:
            raise BadDataError(f'Cannot decode label map {path}; re-create '
                               'it with tools/dataset_converters/'
                               'cityscapes.py')
        if seg.ndim == 3 and seg.shape[2] == 1:
            seg = seg[..., 0]  # only the channel axis: 1xW stays 2-D
        if seg.ndim != 2:
            raise BadDataError(
                f'Label map {path} has shape {seg.shape}; expected one '
                'channel of class indices (a *_labelTrainIds.png, not a '
                'colour image)')
        if seg.dtype == bool:  # a 1-bit PNG
            seg = seg.astype(np.uint8)
        if seg.dtype.kind not in 'ui':
            raise BadDataError(f'Label map {path} holds {seg.dtype} values; '
                               'expected integer class indices')
        # As stored (8 or 16 bit): a uint8 cast here would wrap 256 to 0.
        return seg

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        stored = self._read(path)  # [H, W], the file's values
        seg = stored
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(seg.shape) != tuple(
                ori_shape[:2]):
            raise BadDataError(
                f'Label map {path} is {seg.shape[1]}x{seg.shape[0]} (WxH) '
                f'but its image {results.get("img_path")} is '
                f'{ori_shape[1]}x{ori_shape[0]}; they must match pixel for '
                'pixel')

        reduce_zero_label = self.reduce_zero_label
        if reduce_zero_label is None:
            reduce_zero_label = results.get('reduce_zero_label', False)
        if reduce_zero_label:
            # 0 → 255 and k → k - 1, without uint8 wrap-around.
            seg = seg.copy()
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            # Values beyond the table's 256 entries are kept (and rejected
            # by the value check).
            table = np.arange(max(256, int(seg.max()) + 1), dtype=seg.dtype)
            for old, new in label_map.items():
                table[old] = new
            seg = table[seg]
        num_classes = self.num_classes or results.get('num_classes')
        self._check_values(stored, seg, num_classes, reduce_zero_label, path)
        if seg.dtype != np.uint8 and seg.max(initial=0) <= 255:
            seg = seg.astype(np.uint8)  # checked: nothing wraps

        results['gt_seg_map'] = seg
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def _check_values(self, stored: np.ndarray, seg: np.ndarray,
                      num_classes: Optional[int], reduce_zero_label: bool,
                      path: str) -> None:
        """Raise if a value is neither a class index nor ignore_index.

        Args:
            stored: ``[H, W]`` the label map as the file holds it.
            seg: ``[H, W]`` the same after ``reduce_zero_label`` and
                ``label_map``; the values checked.
            num_classes: the number of classes; None checks only what
                ``reduce_zero_label`` would hide.
            reduce_zero_label: whether ``seg`` was shifted down by one.
            path: the file, named in the error.
        """
        ok = None if num_classes is None else self._valid(seg, num_classes)
        if reduce_zero_label and stored.dtype != np.uint8:
            # 256 - 1 = 255: a 16-bit value that is no label would become
            # "ignore" and train silently; without the flag it is refused.
            ok = (stored != 256) if ok is None else ok & (stored != 256)
        if ok is None or ok.all():
            return
        # The values as stored, so that they can be found in the file.
        bad = np.unique(stored[~ok]).tolist()
        shown = ', '.join(map(str, bad[:10])) + (' ...' if len(bad) > 10
                                                 else '')
        classes = ('a class index' if num_classes is None else
                   f'a class index (0..{num_classes - 1})')
        shift = (' once reduce_zero_label shifts them down by one'
                 if reduce_zero_label else '')
        raise BadDataError(
            f'Label map {path} has values [{shown}] that are neither '
            f'{classes} nor ignore_index {self.ignore_index}{shift}. Check '
            f'num_classes ({num_classes}), reduce_zero_label '
            f'({reduce_zero_label}) and that the labels are train ids made '
            'by tools/dataset_converters/cityscapes.py (not raw '
            '*_labelIds.png).')

    def _valid(self, seg: np.ndarray, num_classes: int) -> np.ndarray:
        """``[H, W]`` bool: the value is a class index or ignore_index."""
        if seg.dtype == np.uint8:  # one table look-up per pixel: cheap
            valid = np.zeros(256, dtype=bool)
            valid[:num_classes] = True
            if 0 <= self.ignore_index < 256:
                valid[self.ignore_index] = True
            return valid[seg]
        return ((seg >= 0) & (seg < num_classes)) | (
            seg == self.ignore_index)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(reduce_zero_label='
                f'{self.reduce_zero_label}, imdecode_backend='
                f"'{self.imdecode_backend}', num_classes={self.num_classes},"
                f' backend_args={self.backend_args})')
