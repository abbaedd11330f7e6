"""What the inferencer writes for each image, named after its source.

Under ``out_dir`` (each folder optional): ``pred/<name>.png`` the label
map (train ids, or Cityscapes label ids), ``vis/<name>.png`` the colour
overlay, ``prob/<name>.npz`` (or ``.png``) the class probabilities
(:mod:`emanet.utils.prob_io`). Every file is written crash-safe
(temporary file, fsync, rename), so a file that exists is complete and a
re-run can skip it.
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from emanet.structures import SegDataSample
from emanet.structures.probabilities import probabilities
from emanet.utils.errors import UserError
from emanet.utils.image_io import write_png
from emanet.utils.prob_io import PROB_FORMATS, prob_suffix, write_probs

from .output_check import check_out_dir


class OutputFiles:
    """The folders of a call and the files of each image.

    Args:
        pred_dir, vis_dir, prob_dir: the folders ('' or None: not
            written).
        prob_format: a format of :data:`~emanet.utils.prob_io.
            PROB_FORMATS`.
        label_ids: Cityscapes label ids in ``pred/`` instead of train ids
            (19-class Cityscapes models only).
        num_classes: the model's class count.
    """

    def __init__(self, pred_dir: Optional[str], vis_dir: Optional[str],
                 prob_dir: Optional[str], prob_format: str = 'npz',
                 label_ids: bool = False, num_classes: int = 19) -> None:
        if prob_format not in PROB_FORMATS:
            raise UserError(f'save_probs={prob_format!r}: use True or one '
                            f'of {", ".join(PROB_FORMATS)}')
        self.dirs = {kind: folder for kind, folder in (
            ('pred', pred_dir), ('vis', vis_dir), ('prob', prob_dir))
            if folder}
        self.suffixes = dict(pred='.png', vis='.png',
                             prob=prob_suffix(prob_format))
        self.prob_format = prob_format
        self.id_table = None
        if label_ids:
            if num_classes != 19:
                raise UserError(f'label_ids=True maps the 19 Cityscapes '
                                f'train ids, but the model predicts '
                                f'{num_classes} classes')
            from emanet.datasets.cityscapes_labels import train_id_to_id_table
            self.id_table = train_id_to_id_table()
        for kind, folder in self.dirs.items():
            check_out_dir(folder, f'{kind}_out_dir')

    def path(self, kind: str, name: str) -> str:
        """The file of ``kind`` ('pred', 'vis' or 'prob') for ``name``."""
        return osp.join(self.dirs[kind],
                        *name.split('/')) + self.suffixes[kind]

    def done(self, name: str) -> bool:
        """Whether every file asked for of ``name`` exists (complete)."""
        return bool(self.dirs) and all(
            osp.isfile(self.path(kind, name)) for kind in self.dirs)

    def _target(self, kind: str, name: str) -> str:
        path = self.path(kind, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        return path

    def write(self, name: str, sample: SegDataSample,
              drawn: Optional[np.ndarray] = None) -> Dict[str, str]:
        """Write the files of one image.

        Args:
            name: its output name.
            sample: its prediction (``pred_sem_seg``; ``seg_logits`` for
                probabilities).
            drawn: its ``[H, W, 3]`` RGB overlay, for ``vis/``.

        Returns:
            dict: the paths written, by kind.
        """
        written = {}
        label = sample.pred_sem_seg.data[0].cpu().numpy()  # [H, W]
        if 'pred' in self.dirs:
            written['pred'] = self._target('pred', name)
            write_png(written['pred'], self.id_table[label]
                      if self.id_table is not None else label.astype(
                          np.uint8 if label.max(initial=0) < 256
                          else np.uint16))
        if 'vis' in self.dirs and drawn is not None:
            written['vis'] = self._target('vis', name)
            write_png(written['vis'], np.ascontiguousarray(drawn[..., ::-1]))
        if 'prob' in self.dirs:
            probs = probabilities(sample).cpu().numpy()  # [C, H, W]
            written['prob'] = self._target('prob', name)
            write_probs(written['prob'], probs, self.prob_format, label)
        return written


def prediction_arrays(samples: List[SegDataSample]) -> List[np.ndarray]:
    """The label maps ``[H, W]`` of predictions, as mmsegmentation's
    inferencer returns them."""
    return [s.pred_sem_seg.data[0].cpu().numpy() for s in samples]
