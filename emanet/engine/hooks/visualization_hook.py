"""Draw validation / test predictions over their images."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import mmengine.fileio as fileio
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from emanet.registry import HOOKS
from emanet.structures import SegDataSample


@HOOKS.register_module()
class SegVisualizationHook(Hook):
    """Draw predictions of the validation and test loops.

    Off unless ``draw=True`` (``tools/test.py --show-dir`` turns it on).
    With ``out_dir`` each image's overlay is written to
    ``out_dir/<image name>.png``; otherwise it goes to the visualizer's
    storage backends.

    Args:
        draw (bool): Draw at all. Defaults to False.
        interval (int): Draw every ``interval``-th batch. Defaults to 50.
        show (bool): Display in a window. Defaults to False.
        wait_time (float): Seconds a shown window stays. Defaults to 0.
        out_dir (str, optional): Folder for one PNG per image.
        draw_gt (bool): Also draw the ground truth, left of the
            prediction. Defaults to False.
        opacity (float, optional): Overrides the visualizer's ``alpha``.
        backend_args (dict, optional): mmengine file backend arguments
            to read images.
    """

    priority = 'LOW'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 out_dir: Optional[str] = None,
                 draw_gt: bool = False,
                 opacity: Optional[float] = None,
                 backend_args: Optional[dict] = None) -> None:
        self.draw = draw
        self.interval = interval
        self.show = show
        self.wait_time = wait_time
        self.out_dir = out_dir
        self.draw_gt = draw_gt
        self.opacity = opacity
        self.backend_args = backend_args.copy() if backend_args else None

    def _after_iter(self,
                    runner,
                    batch_idx: int,
                    data_batch: dict,
                    outputs: Sequence[SegDataSample],
                    mode: str = 'val') -> None:
        if not self.draw or mode == 'train':
            return
        # With out_dir every image is written: the folder is the product.
        if self.out_dir is None and not self.every_n_inner_iters(
                batch_idx, self.interval):
            return
        visualizer = Visualizer.get_current_instance()
        if self.opacity is not None:
            visualizer.alpha = self.opacity
        for output in outputs:
            img_path = output.img_path
            img = mmcv.imfrombytes(
                fileio.get(img_path, backend_args=self.backend_args),
                channel_order='rgb')
            stem = osp.splitext(osp.basename(img_path))[0]
            out_file = None
            if self.out_dir is not None:
                out_file = osp.join(self.out_dir, f'{stem}.png')
            visualizer.add_datasample(
                f'{mode}_{stem}',
                img,
                data_sample=output,
                draw_gt=self.draw_gt,
                draw_pred=True,
                show=self.show,
                wait_time=self.wait_time,
                out_file=out_file,
                step=runner.iter)
