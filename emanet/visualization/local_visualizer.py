"""Colour overlays of segmentation maps with a data set's palette."""
from typing import Dict, List, Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmengine.dist import master_only
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer

from emanet.registry import VISUALIZERS
from emanet.structures import SegDataSample

BLEND_ROWS = 256  # image rows blended at a time (bounds the temporaries)


def default_dataset_meta() -> Dict[str, list]:
    """Cityscapes classes and palette, used when nothing else is given."""
    from emanet.datasets import CityscapesDataset
    meta = CityscapesDataset.METAINFO
    return {'classes': list(meta['classes']),
            'palette': [list(c) for c in meta['palette']]}


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]]
             ) -> np.ndarray:
    """Map a label map to colours; labels outside the palette stay black.

    Every value that is not a class of the palette (ignore, 255, values
    of 256 and above, negative values such as a ``-1`` ignore label) is
    drawn black like ignored pixels, never in a class colour.

    Args:
        label (np.ndarray): ``[H, W]`` integer label map.
        palette (Sequence): ``num_classes`` RGB triples.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB image.
    """
    # One black row past the palette for every value that is no class.
    table = np.zeros((len(palette) + 1, 3), dtype=np.uint8)
    table[:len(palette)] = np.asarray(palette, dtype=np.uint8)
    label = np.asarray(label)
    inside = (label >= 0) & (label < len(palette))  # [H, W]
    return table[np.where(inside, label, len(palette)).astype(np.int64)]


@VISUALIZERS.register_module()
class SegLocalVisualizer(Visualizer):
    """Draws ground truth and predictions over images.

    Pixels whose label is a class (``< len(classes)``) are blended with the
    class colour: ``image * (1 - alpha) + colour * alpha``; ignored pixels
    (255) keep the image unchanged.

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        image (np.ndarray, optional): ``[H, W, 3]`` RGB image to start from.
        vis_backends (list, optional): Storage backend configs.
        save_dir (str, optional): Folder of the storage backends.
        classes (list, optional): Class names; Cityscapes' when not given.
        palette (list, optional): One RGB triple per class.
        alpha (float): Opacity of the colour mask in ``(0, 1]``.
            Defaults to 0.8.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 classes: Optional[List[str]] = None,
                 palette: Optional[List[List[int]]] = None,
                 alpha: float = 0.8,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, **kwargs)
        if not 0 < alpha <= 1:
            raise ValueError(f'alpha (opacity) must be in (0, 1], got {alpha}')
        self.alpha = alpha
        self.set_dataset_meta(classes, palette)

    def set_dataset_meta(self,
                         classes: Optional[List[str]] = None,
                         palette: Optional[List[List[int]]] = None) -> None:
        """Set class names and palette (Cityscapes' where not given)."""
        if classes is None or palette is None:
            default = default_dataset_meta()
            classes = classes if classes is not None else default['classes']
            palette = palette if palette is not None else default['palette']
        if len(classes) != len(palette):
            raise ValueError(
                f'got {len(classes)} classes but {len(palette)} palette '
                'colours: give one RGB triple per class')
        self.dataset_meta = {'classes': list(classes),
                             'palette': [list(c) for c in palette]}

    def draw_sem_seg(self, image: np.ndarray, sem_seg: PixelData,
                     with_labels: bool = False) -> np.ndarray:
        """Blend a label map over an image.

        Args:
            image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
            sem_seg (PixelData): label map with data ``[1, H, W]``.
            with_labels (bool): Write each class name at a pixel of it.

        Returns:
            np.ndarray: ``[H, W, 3]`` uint8 RGB overlay.
        """
        classes = self.dataset_meta['classes']
        palette = self.dataset_meta['palette']
        label = sem_seg.cpu().numpy().data[0]  # [H, W]
        if label.shape != image.shape[:2]:
            raise ValueError(
                f'label map of shape {label.shape} does not match the image '
                f'of shape {image.shape[:2]}')
        valid = (label >= 0) & (label < len(classes))  # [H, W]
        out = np.empty(image.shape, dtype=np.uint8)  # [H, W, 3]
        # Strips of rows: the float64 blend of a whole 8000x8000 image
        # would take 1.5 GB per temporary.
        for top in range(0, label.shape[0], BLEND_ROWS):
            rows = slice(top, top + BLEND_ROWS)
            color = colorize(label[rows], palette)  # [h, W, 3]
            blended = image[rows] * (1 - self.alpha) + color * self.alpha
            out[rows] = np.clip(
                np.where(valid[rows, :, None], blended, image[rows]), 0,
                255).astype(np.uint8)
        if with_labels:
            out = self._write_class_names(out, label, valid, classes)
        self.set_image(out)
        return out

    @staticmethod
    def _write_class_names(image: np.ndarray, label: np.ndarray,
                           valid: np.ndarray, classes: List[str]
                           ) -> np.ndarray:
        """Write each present class name at its median pixel."""
        image = np.ascontiguousarray(image)
        scale = max(min(image.shape[:2]) / 500, 0.3)
        for cls_id in np.unique(label[valid]):
            ys, xs = np.nonzero(label == cls_id)
            idx = len(ys) // 2  # a pixel of the class, not its centroid
            org = (int(xs[idx]), int(ys[idx]))
            cv2.putText(image, classes[int(cls_id)], org,
                        cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        1, cv2.LINE_AA)
        return image

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: bool = False) -> np.ndarray:
        """Draw ground truth and/or prediction of one image.

        With both drawn, the ground truth is on the left and the prediction
        on the right. The result goes to ``out_file`` when given, otherwise
        to the storage backends.

        Args:
            name (str): Image identifier for the backends.
            image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
            data_sample (SegDataSample, optional): Holds ``gt_sem_seg``
                and/or ``pred_sem_seg``.
            draw_gt (bool): Draw ``gt_sem_seg`` when present.
            draw_pred (bool): Draw ``pred_sem_seg`` when present.
            show (bool): Display in a window.
            wait_time (float): Seconds the window stays open.
            out_file (str, optional): PNG path to write.
            step (int): Global step for the backends.
            with_labels (bool): Write class names on the overlay.

        Returns:
            np.ndarray: The drawn ``[H, W', 3]`` RGB image.
        """
        panels = []
        if data_sample is not None:
            if draw_gt and 'gt_sem_seg' in data_sample:
                panels.append(self.draw_sem_seg(
                    image, data_sample.gt_sem_seg, with_labels))
            if draw_pred and 'pred_sem_seg' in data_sample:
                panels.append(self.draw_sem_seg(
                    image, data_sample.pred_sem_seg, with_labels))
        drawn = np.concatenate(panels, axis=1) if panels else image
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
        return drawn
