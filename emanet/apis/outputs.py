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
from typing import Dict, List, Optional, Sequence

import numpy as np

from emanet.structures import SegDataSample
from emanet.structures.probabilities import probabilities
from emanet.utils.errors import UserError
from emanet.utils.image_io import write_png
from emanet.utils.output_paths import check_output_dir
from emanet.utils.prob_io import PROB_FORMATS, prob_suffix, write_probs


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
            check_output_dir(folder, f'{kind}_out_dir')

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


def call_result(predictions: List[np.ndarray],
                visualization: Optional[List[np.ndarray]],
                **extra) -> dict:
    """The inferencer's result: mmsegmentation's keys ``predictions`` and
    ``visualization`` (one image's arrays unwrapped), then ``extra``."""
    result = dict(predictions=predictions,
                  visualization=visualization or [], **extra)
    if len(predictions) == 1:
        result['predictions'] = predictions[0]
        if visualization:
            result['visualization'] = visualization[0]
    return result


# what ``dataset_name`` may say (mmsegmentation's names of Cityscapes)
DATASET_NAMES = ('cityscapes', 'CityscapesDataset')


def overlay_visualizer(model_meta: Optional[dict],
                       classes: Optional[Sequence[str]] = None,
                       palette: Optional[Sequence[Sequence[int]]] = None,
                       dataset_name: Optional[str] = None,
                       name: str = 'inferencer'):
    """A :class:`SegLocalVisualizer` with the model's classes and palette,
    or a data set's (``dataset_name``), ``classes`` and ``palette`` going
    first."""
    from emanet.visualization import SegLocalVisualizer
    from emanet.visualization.local_visualizer import default_dataset_meta
    meta = dict(model_meta or {})
    if dataset_name is not None:
        if dataset_name not in DATASET_NAMES:
            raise UserError(f'dataset_name {dataset_name!r}: use one of '
                            f'{", ".join(DATASET_NAMES)}')
        meta = default_dataset_meta()
    meta.update({k: v for k, v in (('classes', classes),
                                   ('palette', palette)) if v})
    return SegLocalVisualizer(name=name, classes=meta.get('classes'),
                              palette=meta.get('palette'))


def draw_overlay(visualizer, name: str, image: np.ndarray,
                 sample: SegDataSample, show: bool = False,
                 wait_time: float = 0, opacity: float = 0.8,
                 with_labels: bool = True) -> np.ndarray:
    """The overlay ``[H, W, 3]`` RGB of a BGR image and its prediction,
    shown in a window named ``name`` if asked (where a display exists)."""
    from emanet.visualization.display import show_image
    visualizer.alpha = opacity
    drawn = visualizer.draw_sem_seg(np.ascontiguousarray(image[..., ::-1]),
                                    sample.pred_sem_seg, with_labels)
    if show:
        show_image(name, drawn, wait_time)
    return drawn
