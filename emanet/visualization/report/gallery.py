"""The report's images as the test delivers them.

Each image's pictures (:mod:`.thumbnails`) are written at once; only its
confusion counts are kept, the non-zero entries of a ``[C, C]`` matrix,
small enough to gather from every process at the end.
"""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch

from emanet.evaluation.iou import confusion_counts

from .thumbnails import THUMB_WIDTH, write_panels


def safe_name(stem: str) -> str:
    """A file stem that is safe in a URL and on any file system."""
    return re.sub(r'[^A-Za-z0-9._-]', '_', stem)[:150] or 'image'


def classes_and_palette(metainfo: Dict[str, Any]
                        ) -> Tuple[List[str], List[List[int]]]:
    """A data set's class names and one RGB triple per class.

    A data set without a palette for every class gets fixed random
    colours (the same in every run).
    """
    classes = list(metainfo['classes'])
    palette = metainfo.get('palette')
    if not palette or len(palette) < len(classes):
        rng = np.random.default_rng(0)
        palette = rng.integers(0, 256, (len(classes), 3)).tolist()
    return classes, [[int(v) for v in c] for c in palette[:len(classes)]]


class Gallery:
    """The images of one process's share of a test run.

    Args:
        folder: the report's (temporary) folder, with ``thumbs/`` and
            ``full/``.
        palette: one RGB triple per class.
        ignore_index: the label value the metric leaves out.
        thumb_width: width of the thumbnails in pixels.
        backend_args: mmengine file backend arguments to read the images.
    """

    def __init__(self,
                 folder: str,
                 palette: Sequence[Sequence[int]],
                 ignore_index: int,
                 thumb_width: int = THUMB_WIDTH,
                 backend_args: Optional[dict] = None) -> None:
        self.folder = folder
        self.palette = palette
        self.ignore_index = ignore_index
        self.thumb_width = thumb_width
        self.backend_args = backend_args
        #: One small record per image: ``name``, ``img_path``, the sparse
        #: counts (``index``, ``values``) and the ``files`` written.
        self.images: List[Dict[str, Any]] = []
        self._names: set = set()

    def add(self, img_path: str, pred: torch.Tensor,
            gt: torch.Tensor) -> None:
        """Write one image's pictures and keep its counts.

        Args:
            img_path: the image file.
            pred: ``[H, W]`` predicted classes.
            gt: ``[H, W]`` ground truth.
        """
        pred, gt = pred.cpu(), gt.cpu()
        counts = confusion_counts(pred, gt, len(self.palette),
                                  self.ignore_index)  # [C, C]
        image = mmcv.imfrombytes(
            fileio.get(img_path, backend_args=self.backend_args),
            channel_order='rgb')  # [H, W, 3]
        if image.shape[:2] != tuple(gt.shape):
            image = cv2.resize(image, (gt.shape[1], gt.shape[0]),
                               interpolation=cv2.INTER_AREA)
        name = self._unique(safe_name(osp.splitext(osp.basename(img_path))
                                      [0]))
        files = write_panels(self.folder, name, image, gt.numpy(),
                             pred.numpy(), self.palette, self.ignore_index,
                             self.thumb_width)
        flat = np.flatnonzero(counts)  # sparse: most pairs never occur
        self.images.append(
            dict(name=name, img_path=img_path, index=flat.astype(np.int32),
                 values=counts.flat[flat], files=files))

    def _unique(self, name: str) -> str:
        """``name``, or ``name_2``, ... when another image has it."""
        base, n = name, 1
        while name in self._names:
            n += 1
            name = f'{base}_{n}'
        self._names.add(name)
        return name
