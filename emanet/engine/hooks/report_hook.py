"""An evaluation report of a test run: ``tools/test.py --report DIR``.

The hook only feeds :mod:`emanet.visualization.report`: each batch's
predictions and ground truth go to the process's
:class:`~emanet.visualization.report.gallery.Gallery`; after the test the
main process gathers the images and writes the page through
:class:`~emanet.visualization.report.folder.ReportFolder`.
"""
import os.path as osp
import time
from typing import Any, Optional, Sequence

from mmengine.dist import (
    barrier,
    broadcast_object_list,
    collect_results,
    get_rank,
)
from mmengine.hooks import Hook

from emanet.engine.run_record import SETTING_KEYS, build_test_record
from emanet.evaluation.metrics.iou_metric import iou_metric_of
from emanet.models.segmentors.unwrap import unwrap_segmentor
from emanet.registry import HOOKS
from emanet.utils.errors import UserError
from emanet.visualization.report.build import build_report
from emanet.visualization.report.folder import ReportFolder
from emanet.visualization.report.gallery import Gallery, classes_and_palette
from emanet.visualization.report.thumbnails import THUMB_WIDTH


@HOOKS.register_module()
class ReportHook(Hook):
    """Write an HTML evaluation report of the test run to ``out_dir``.

    Args:
        out_dir (str): the report folder (created, or an earlier report
            replaced; one that holds other files is refused).
        settings (dict, optional): the run's settings as the test record
            holds them (:data:`~emanet.engine.run_record.SETTING_KEYS`;
            :func:`emanet.apis.testing.record_settings`); those not given
            are None in the report's record.
        thumb_width (int): width of the thumbnails in pixels.
        backend_args (dict, optional): mmengine file backend arguments
            to read the images.
    """

    priority = 'LOW'

    def __init__(self,
                 out_dir: str,
                 settings: Optional[dict] = None,
                 thumb_width: int = THUMB_WIDTH,
                 backend_args: Optional[dict] = None) -> None:
        self.folder = ReportFolder(out_dir)
        self.settings = {key: (settings or {}).get(key)
                         for key in SETTING_KEYS}
        self.thumb_width = thumb_width
        self.backend_args = backend_args
        self.gallery: Optional[Gallery] = None
        self._seconds = 0.0  # spent in this hook
        self._start = 0.0

    def before_test(self, runner) -> None:
        start = time.perf_counter()
        self._start = time.time()
        self.classes, self.palette = classes_and_palette(
            runner.test_dataloader.dataset.metainfo)
        # The metric's settings and, at the end, its per-class table.
        self.metric = iou_metric_of(runner.test_evaluator)
        self.ignore_index = 255 if self.metric is None \
            else self.metric.ignore_index
        shared = [self.folder.open() if get_rank() == 0 else None]
        broadcast_object_list(shared)  # every rank writes its images there
        self.gallery = Gallery(shared[0], self.palette, self.ignore_index,
                               self.thumb_width, self.backend_args)
        self._seconds = time.perf_counter() - start

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        start = time.perf_counter()
        for sample in outputs or []:
            if 'gt_sem_seg' not in sample:
                raise UserError(f'{sample.img_path} has no ground truth: '
                                '--report compares with the labels (the '
                                'test pipeline needs LoadAnnotations)')
            self.gallery.add(sample.img_path,
                             sample.pred_sem_seg.data[0],  # [H, W]
                             sample.gt_sem_seg.data[0])  # [H, W]
        self._seconds += time.perf_counter() - start

    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        start = time.perf_counter()
        images = collect_results(self.gallery.images,
                                 len(runner.test_dataloader.dataset),
                                 device='cpu')
        barrier()  # every rank's pictures are written
        self.gallery = None
        if get_rank() != 0:
            return
        per_class = None if self.metric is None else self.metric.per_class
        record = build_test_record(
            **self.settings, timestamp=runner.timestamp,
            num_images=len(images), seconds=time.time() - self._start,
            metrics=dict(metrics or {}), per_class=per_class)
        seg, _ = unwrap_segmentor(runner.model)
        report, picture = build_report(
            images, self.classes, self.palette, self.ignore_index, record,
            per_class, seg, self.folder.out_dir)
        # What the report cost this process (its pictures while testing,
        # then the page): its share of the run's time, in report.json.
        report['report_seconds'] = dict(
            images=round(self._seconds, 2),
            page=round(time.perf_counter() - start, 2))
        self.folder.finish(report, picture)
        self._seconds += time.perf_counter() - start
        runner.logger.info(
            f'report of {len(images)} images written to '
            f'{osp.join(self.folder.out_dir, "index.html")} (it took '
            f'{self._seconds:.1f} s of the run)')
