"""CityscapesMetric: labelIds PNGs for the official server, plus mIoU."""
import copy
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log

from emanet.registry import METRICS
from emanet.utils.image_io import write_png

from .iou_metric import IoUMetric


@METRICS.register_module()
class CityscapesMetric(IoUMetric):
    """Write Cityscapes labelIds PNGs and report the 19-class scores.

    Each prediction (train ids) is mapped to Cityscapes label ids and
    written as a single-channel 8-bit PNG ``<image basename>.png`` (e.g.
    ``frankfurt_000000_000294_leftImg8bit.png``) in ``output_dir``: the
    name ``cityscapesscripts``' ``evalPixelLevelSemanticLabeling`` looks for
    (``<city>_<seq>_<frame>*.png``) and the format the evaluation server
    takes. With ground truth, ``aAcc`` / ``mIoU`` / ``mAcc`` (19 classes)
    come from the same confusion matrix as :class:`IoUMetric`.

    Args:
        output_dir: folder of the labelIds PNGs.
        ignore_index: label value left out of the evaluation.
        format_only: only write the PNGs (no ground truth needed, e.g. for
            the test split).
        keep_results: keep the PNGs after evaluating; ``False`` removes the
            files written here (never the folder itself or other files).
            Always kept with ``format_only``.
        use_official_evaluator: also run ``cityscapesscripts``' evaluator
            on the PNGs and ``*_gtFine_labelIds.png`` (class and category
            mIoU, in percent, as ``official_mIoU`` and
            ``official_category_mIoU``).
        iou_metrics, nan_to_num, beta, collect_device, prefix,
            per_class_file: as :class:`IoUMetric`.
    """

    def __init__(self,
                 output_dir: str,
                 ignore_index: int = 255,
                 format_only: bool = False,
                 keep_results: bool = True,
                 use_official_evaluator: bool = False,
                 iou_metrics: Sequence[str] = ('mIoU', ),
                 nan_to_num: Optional[int] = None,
                 beta: int = 1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 per_class_file: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(
            ignore_index=ignore_index,
            iou_metrics=iou_metrics,
            nan_to_num=nan_to_num,
            beta=beta,
            collect_device=collect_device,
            output_dir=output_dir,
            format_only=format_only,
            prefix=prefix,
            per_class_file=per_class_file)
        self.keep_results = keep_results or format_only
        self.use_official_evaluator = use_official_evaluator

    def _write_label_ids(self, data_sample: dict) -> str:
        from emanet.datasets.cityscapes_labels import train_id_to_id_table
        os.makedirs(self.output_dir, exist_ok=True)
        pred = data_sample['pred_sem_seg']['data'][0].cpu().numpy()
        label_ids = train_id_to_id_table()[pred.astype(np.uint8)]
        name = osp.splitext(osp.basename(data_sample['img_path']))[0]
        path = osp.abspath(osp.join(self.output_dir, f'{name}.png'))
        write_png(path, label_ids)
        return path

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write each sample's PNG; keep its confusion matrix and paths."""
        for data_sample in data_samples:
            png = self._write_label_ids(data_sample)
            if self.format_only:
                self.results.append((None, png, ''))
                continue
            gt = data_sample.get('seg_map_path', '').replace(
                '_labelTrainIds.png', '_labelIds.png')
            self.results.append((self.sample_confusion(data_sample), png, gt))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        pngs = [r[1] for r in results]
        if self.format_only:
            print_log(
                f'{len(pngs)} labelIds PNGs are saved to '
                f'{osp.abspath(self.output_dir)}', logger)
            return OrderedDict()
        metrics = self.summarize(np.sum([r[0] for r in results], 0), logger)
        if self.use_official_evaluator:
            metrics.update(official_scores(pngs, [r[2] for r in results]))
        if not self.keep_results:
            for png in pngs:
                if osp.isfile(png):
                    os.remove(png)
        return metrics


def official_scores(pred_files: List[str],
                    gt_files: List[str]) -> Dict[str, float]:
    """Class / category mIoU (percent) by ``cityscapesscripts``' evaluator.

    Args:
        pred_files: labelIds prediction PNGs.
        gt_files: matching ``*_gtFine_labelIds.png`` files.
    """
    try:
        from cityscapesscripts.evaluation import (
            evalPixelLevelSemanticLabeling as cs_eval,
        )
    except ImportError as e:
        raise ImportError('use_official_evaluator=True needs the '
                          '`cityscapesscripts` package: pip install '
                          'cityscapesscripts') from e
    missing = [f for f in gt_files if not osp.isfile(f)]
    if missing:
        raise FileNotFoundError(
            f'the official evaluator needs *_gtFine_labelIds.png ground '
            f'truth; {len(missing)} are missing, e.g. {missing[0]}')
    # A copy: the module-level settings stay as the user left them.
    args = copy.copy(cs_eval.args)
    args.predictionPath = None
    args.predictionWalk = None
    # Class and category IoU only: the instance and per-image pixel
    # statistics need instanceIds files and np.in1d (gone in numpy 2.4).
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    try:
        result = cs_eval.evaluateImgLists(pred_files, gt_files, args)
    except SystemExit as e:  # cityscapesscripts exits on errors
        raise RuntimeError(
            'cityscapesscripts evaluation failed (see its message above)'
        ) from e
    return OrderedDict(
        official_mIoU=round(result['averageScoreClasses'] * 100, 2),
        official_category_mIoU=round(
            result['averageScoreCategories'] * 100, 2))
