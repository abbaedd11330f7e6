"""An evaluation report of a test run: ``tools/test.py --report DIR``.

While the test runs, each batch's predictions are compared with their
ground truth: every image's pictures (:mod:`~emanet.visualization.report.
thumbnails`) are written at once and only its small confusion counts are
kept. After the test, the main process writes ``DIR/index.html`` (the
page), ``DIR/report.json`` (its numbers) and the confusion matrix
picture. Everything is written into a hidden temporary folder beside
``DIR``, renamed to ``DIR`` when complete: a failed run leaves no half
report (its temporary folder goes when the process exits, or with the
next run).
"""
import atexit
import datetime
import json
import os
import os.path as osp
import re
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmengine.dist import (
    barrier,
    broadcast_object_list,
    collect_results,
    get_rank,
)
from mmengine.hooks import Hook

from emanet.models.segmentors.unwrap import unwrap_segmentor
from emanet.registry import HOOKS
from emanet.utils.atomic_io import TMP_MARK, _remove_stale_tmp_dirs, fsync_dir
from emanet.utils.errors import UserError

REPORT_FILES = ('index.html', 'report.json')


def check_report_dir(path: str) -> None:
    """Refuse a ``--report`` folder that holds something else.

    A missing folder, an empty one or an earlier report (``index.html``
    and ``report.json``) may be (re)written.

    Raises:
        UserError: ``path`` is a file, or a folder with other content.
    """
    if not osp.lexists(path):
        return
    if not osp.isdir(path):
        raise UserError(f'--report {path} is a file; give a folder for '
                        'the report')
    names = set(os.listdir(path))
    if names and not set(REPORT_FILES) <= names:
        raise UserError(
            f'--report {path} is a folder holding other files (no '
            'index.html and report.json of an earlier report): give a new '
            'or empty folder')


def report_hook_cfg(out_dir: str,
                    settings: Optional[Dict[str, Any]] = None) -> dict:
    """The ``custom_hooks`` entry of ``tools/test.py --report``.

    Args:
        out_dir: the report folder.
        settings: the run's settings as the test record holds them
            (:func:`emanet.evaluation.test_record.test_record`'s
            ``config``, ``model_file``, ``backend``, ``mode``, ``fast``,
            ``amp``, ``aug_test``, ``device``, ...).

    Raises:
        UserError: ``out_dir`` holds something else than a report.
    """
    check_report_dir(out_dir)  # before the model and data are loaded
    return dict(type='ReportHook', out_dir=out_dir,
                settings=dict(settings or {}))


def _device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


def _precision(seg: torch.nn.Module, amp: bool,
               device: torch.device) -> str:
    """What the network computes in, in words."""
    from emanet.utils.precision import bf16_forced, bf16_is_native
    if hasattr(seg, 'amp_dtype'):  # exported model in a runtime
        rest = ('bfloat16' if seg.amp_dtype == torch.bfloat16
                else 'float32')
        if getattr(seg, 'int8', False):  # a quantized OpenVINO IR
            return f'int8 (quantized layers), {rest} elsewhere'
        return rest + (' (runtime)' if rest == 'bfloat16' else '')
    if not amp:
        return 'float32'
    # The choice resolve_amp_dtype(True, device) makes, without its log
    # line (the fast path logged it already).
    if bf16_is_native(device) or bf16_forced():
        return 'bfloat16 autocast (EM iterations float32)'
    if device.type == 'cuda':
        return 'float16 autocast (EM iterations float32)'
    return 'float32 (--amp: bfloat16 is not native here)'


def _mode(seg: torch.nn.Module, tta: bool) -> str:
    test_cfg = dict(getattr(seg, 'test_cfg', None) or {})
    mode = test_cfg.get('mode', 'whole')
    if mode == 'slide':
        mode = (f'slide (crop {test_cfg.get("crop_size")}, stride '
                f'{test_cfg.get("stride")})')
    return mode + (', --aug-test (views averaged)' if tta else '')


def _safe_name(stem: str) -> str:
    """A file stem that is safe in a URL and on any file system."""
    return re.sub(r'[^A-Za-z0-9._-]', '_', stem)[:150] or 'image'


@HOOKS.register_module()
class ReportHook(Hook):
    """Write an HTML evaluation report of the test run to ``out_dir``.

    Args:
        out_dir (str): the report folder (created, or an earlier report
            replaced).
        settings (dict, optional): the run's settings as the test record
            holds them (``config``, ``model_file``, ``backend``,
            ``mode``, ``fast``, ``amp``, ``aug_test``, ``device``); those
            not given are found from the runner.
        thumb_width (int): width of the thumbnails in pixels.
        backend_args (dict, optional): mmengine file backend arguments
            to read the images.
    """

    priority = 'LOW'

    def __init__(self,
                 out_dir: str,
                 settings: Optional[dict] = None,
                 thumb_width: int = 320,
                 backend_args: Optional[dict] = None) -> None:
        self.out_dir = osp.abspath(out_dir)
        check_report_dir(self.out_dir)
        self.settings = dict(settings or {})
        self.thumb_width = thumb_width
        self.backend_args = backend_args
        self._tmp: Optional[str] = None
        self._images: List[Dict[str, Any]] = []
        self._names: set = set()
        self._seconds = 0.0  # spent in this hook
        self._start = 0.0

    # Set-up ---------------------------------------------------------------
    def before_test(self, runner) -> None:
        start = time.perf_counter()
        self._start = time.time()
        self._images, self._names = [], set()
        dataset = runner.test_dataloader.dataset
        self.classes = list(dataset.metainfo['classes'])
        palette = dataset.metainfo.get('palette')
        if not palette or len(palette) < len(self.classes):
            rng = np.random.default_rng(0)
            palette = rng.integers(0, 256, (len(self.classes), 3)).tolist()
        self.palette = [[int(v) for v in c] for c in palette]
        self.metric = self._metric_settings(runner)
        tmp = None
        if get_rank() == 0:
            parent = osp.dirname(self.out_dir)
            os.makedirs(parent, exist_ok=True)
            prefix = f'.{osp.basename(self.out_dir)}{TMP_MARK}'
            _remove_stale_tmp_dirs(parent, prefix)
            tmp = tempfile.mkdtemp(prefix=f'{prefix}{os.getpid()}-',
                                   dir=parent)
            for sub in ('thumbs', 'full'):
                os.makedirs(osp.join(tmp, sub))
            atexit.register(self._remove_tmp)
        shared = [tmp]
        broadcast_object_list(shared)  # every rank writes its images there
        self._tmp = shared[0]
        self._seconds = time.perf_counter() - start

    def _metric_settings(self, runner) -> Dict[str, Any]:
        """``ignore_index`` and the score settings of the test metric."""
        from emanet.evaluation import IoUMetric
        evaluator = runner.test_evaluator
        for metric in getattr(evaluator, 'metrics', []):
            if isinstance(metric, IoUMetric):
                return dict(ignore_index=metric.ignore_index,
                            iou_metrics=list(metric.metrics),
                            nan_to_num=metric.nan_to_num, beta=metric.beta)
        return dict(ignore_index=255, iou_metrics=['mIoU'], nan_to_num=None,
                    beta=1)

    def _remove_tmp(self) -> None:
        """Drop the temporary folder of a report that did not finish."""
        if self._tmp is not None and osp.isdir(self._tmp):
            shutil.rmtree(self._tmp, ignore_errors=True)

    # Each batch -----------------------------------------------------------
    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        start = time.perf_counter()
        for sample in outputs or []:
            self._images.append(self._add_image(sample))
        self._seconds += time.perf_counter() - start

    def _add_image(self, sample) -> Dict[str, Any]:
        """Write one image's pictures; return its small record."""
        from emanet.evaluation.iou import confusion_counts
        from emanet.visualization.report.thumbnails import write_panels
        if 'gt_sem_seg' not in sample:
            raise UserError(f'{sample.img_path} has no ground truth: '
                            '--report compares with the labels (the test '
                            'pipeline needs LoadAnnotations)')
        pred = sample.pred_sem_seg.data[0].cpu()  # [H, W]
        gt = sample.gt_sem_seg.data[0].cpu()  # [H, W]
        num = len(self.classes)
        counts = confusion_counts(pred, gt, num, self.metric['ignore_index'])
        img_path = sample.img_path
        image = mmcv.imfrombytes(
            fileio.get(img_path, backend_args=self.backend_args),
            channel_order='rgb')  # [H, W, 3]
        if image.shape[:2] != tuple(gt.shape):
            image = cv2.resize(image, (gt.shape[1], gt.shape[0]),
                               interpolation=cv2.INTER_AREA)
        name = _safe_name(osp.splitext(osp.basename(img_path))[0])
        base, n = name, 1
        while name in self._names:
            n += 1
            name = f'{base}_{n}'
        self._names.add(name)
        files = write_panels(self._tmp, name, image, gt.numpy(),
                             pred.numpy(), self.palette,
                             self.metric['ignore_index'], self.thumb_width)
        flat = np.flatnonzero(counts)  # sparse: most pairs never occur
        return dict(name=name, img_path=img_path,
                    index=flat.astype(np.int32), values=counts.flat[flat],
                    files=files)

    # The end --------------------------------------------------------------
    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        start = time.perf_counter()
        size = len(runner.test_dataloader.dataset)
        images = collect_results(self._images, size, device='cpu')
        barrier()  # every rank's pictures are written
        self._images = []
        if get_rank() != 0:
            return
        images_seconds = self._seconds
        report = self._build(runner, images, dict(metrics or {}))
        # What the report cost this process (its pictures while testing,
        # then the page): its share of the run's time, in report.json.
        report['report_seconds'] = dict(
            images=round(images_seconds, 2),
            page=round(time.perf_counter() - start, 2))
        self._finish(report)
        self._seconds += time.perf_counter() - start
        runner.logger.info(
            f'report of {len(images)} images written to '
            f'{osp.join(self.out_dir, "index.html")} (it took '
            f'{self._seconds:.1f} s of the run)')

    def _build(self, runner, images: List[Dict[str, Any]],
               metrics: Dict[str, Any]) -> Dict[str, Any]:
        from emanet.evaluation.iou import most_confused, normalize_rows
        from emanet.visualization.confusion_plot import plot_confusion_matrix
        from emanet.visualization.report.collect import (
            class_table,
            summarize_image,
            worst_first,
        )
        from emanet.visualization.report.thumbnails import (
            IGNORED_RGB,
            WRONG_RGB,
        )
        num = len(self.classes)
        total = np.zeros(num * num, dtype=np.int64)
        records = []
        for image in images:
            counts = np.zeros(num * num, dtype=np.int64)
            counts[image['index']] = image['values']
            total += counts
            record = dict(name=image['name'], img_path=image['img_path'],
                          img_link=self._link(image['img_path']),
                          files=image['files'])
            record.update(summarize_image(counts.reshape(num, num),
                                          self.classes))
            records.append(record)
        counts = total.reshape(num, num)  # [C, C]
        picture = plot_confusion_matrix(normalize_rows(counts) * 100,
                                        self.classes)  # [H, W, 3] RGB
        bgr = np.ascontiguousarray(picture[..., ::-1])
        ok, png = cv2.imencode('.png', bgr)
        if not ok:
            raise RuntimeError('cannot encode the confusion matrix picture')
        with open(osp.join(self._tmp, 'confusion_matrix.png'), 'wb') as f:
            f.write(png.tobytes())
        table = class_table(counts, self.classes,
                            self.metric['iou_metrics'],
                            self.metric['nan_to_num'], self.metric['beta'])
        record, seg, tta = self._record(runner, metrics, table,
                                        len(records))
        device = _device(seg)
        settings = {
            'Config': record['config'],
            'Model file': record['model_file'],
            'Backend': record['backend'],
            'Mode': _mode(seg, tta),
            'Fast path': 'yes' if record['fast'] else 'no',
            'Precision': _precision(seg, record['amp'], device),
            'Device': record['device'],
            'Date': datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y-%m-%d %H:%M UTC'),
            'Images': record['num_images'],
            'Test time': f'{record["seconds"]:.1f} s (with this report)',
        }
        return dict(
            title='EMANet evaluation report: '
            + osp.basename(str(settings['Config'])),
            settings=settings,
            record=record,
            metrics={k: v for k, v in record['metrics'].items()
                     if isinstance(v, (int, float))},
            classes=self.classes,
            palette=self.palette,
            ignore_index=self.metric['ignore_index'],
            per_class=table,
            confusion=dict(image='confusion_matrix.png',
                           counts=counts.tolist(),
                           most_confused=most_confused(counts,
                                                       self.classes)),
            error_colors={'wrong': list(WRONG_RGB),
                          'ignored': list(IGNORED_RGB)},
            images=worst_first(records))

    def _record(self, runner, metrics: Dict[str, Any],
                table: Dict[str, list], num_images: int
                ) -> Tuple[Dict[str, Any], torch.nn.Module, bool]:
        """The run's test record (settings given, the rest found).

        Returns:
            tuple: the record of
            :func:`emanet.evaluation.test_record.test_record`, the
            segmentor, and whether it ran under test-time augmentation.
        """
        from emanet.deploy.runtime.backends import backend_of
        from emanet.evaluation.test_record import SETTING_KEYS, test_record
        from emanet.utils.benchmarking import device_description
        seg, tta = unwrap_segmentor(runner.model)
        fast = getattr(runner, 'fast_inference', None)
        found = dict(
            config=runner.cfg.filename,
            model_file=getattr(seg, 'model_file', None)
            or runner.cfg.get('load_from'),
            backend=backend_of(seg),
            mode=dict(getattr(seg, 'test_cfg', None) or {}).get(
                'mode', 'whole'),
            fast=fast is not None,
            amp=bool((fast or {}).get('amp')),
            aug_test=tta,
            format_only=False,
            device=device_description(_device(seg)))
        found.update({k: v for k, v in self.settings.items()
                      if k in SETTING_KEYS and v is not None})
        record = test_record(
            **{key: found[key] for key in SETTING_KEYS},
            timestamp=getattr(runner, 'timestamp', None),
            num_images=num_images,
            seconds=time.time() - self._start,
            metrics=metrics,
            per_class={k: v for k, v in table.items() if k != 'Pixels'})
        return record, seg, tta

    def _link(self, img_path: str) -> Optional[str]:
        """The original image relative to the report folder (local
        files only; None for remote ones)."""
        if '://' in str(img_path) or not osp.isfile(img_path):
            return None
        try:
            return osp.relpath(osp.abspath(img_path), self.out_dir)
        except ValueError:  # another drive (Windows)
            return None

    def _finish(self, report: Dict[str, Any]) -> None:
        """Write the page and its numbers, then rename the folder."""
        from emanet.visualization.report.page import render_page
        with open(osp.join(self._tmp, 'report.json'), 'w',
                  encoding='utf-8') as f:
            json.dump(report, f, indent=1)
        with open(osp.join(self._tmp, 'index.html'), 'w',
                  encoding='utf-8') as f:
            f.write(render_page(report))
        os.chmod(self._tmp, 0o755)  # mkdtemp makes it private
        old = None
        if osp.isdir(self.out_dir):  # an earlier report (checked)
            old = tempfile.mkdtemp(
                prefix=f'.{osp.basename(self.out_dir)}{TMP_MARK}'
                f'{os.getpid()}-old-', dir=osp.dirname(self.out_dir))
            os.rename(self.out_dir, osp.join(old, 'report'))
        os.rename(self._tmp, self.out_dir)
        fsync_dir(osp.dirname(self.out_dir))
        self._tmp = None
        atexit.unregister(self._remove_tmp)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
