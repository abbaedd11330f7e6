"""What a report holds: ``report.json`` and, rendered, the page.

:func:`build_report` turns the gathered images, the run's record and the
test metric's per-class table into the report record; the model itself
tells how it ran (whole or slide windows, the precision of its network).
"""
import datetime
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from emanet.deploy.runtime.backends import backend_of
from emanet.evaluation.iou import most_confused, normalize_rows
from emanet.utils.precision import resolve_amp_dtype
from emanet.visualization.confusion_plot import plot_confusion_matrix

from .collect import class_table, summarize_image, worst_first
from .thumbnails import IGNORED_RGB, WRONG_RGB


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are (CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


def precision_label(seg: torch.nn.Module, amp: bool) -> str:
    """What the network of ``seg`` computes in, in words.

    Args:
        seg: the tested segmentor (a backend segmentor for an exported
            model).
        amp: ``--amp`` was asked for.
    """
    backend = backend_of(seg)
    if backend != 'pytorch':  # its runtime chose when it was built
        rest = ('bfloat16' if seg.amp_dtype == torch.bfloat16
                else 'float32')
        if backend == 'openvino' and seg.int8:  # a quantized IR
            return f'int8 (quantized layers), {rest} elsewhere'
        return rest + (' (runtime)' if rest == 'bfloat16' else '')
    if not amp:
        return 'float32'
    # The choice the fast path made (and logged) for this device.
    dtype = resolve_amp_dtype(True, model_device(seg), log=False)
    if dtype is None:
        return 'float32 (--amp: bfloat16 is not native here)'
    name = 'bfloat16' if dtype == torch.bfloat16 else 'float16'
    return f'{name} autocast (EM iterations float32)'


def mode_label(mode: Optional[str], seg: torch.nn.Module,
               aug_test: bool) -> str:
    """The record's mode in words, with the slide windows' sizes."""
    text = str(mode)
    if mode == 'slide':  # a segmentor that slides has a test_cfg
        text = (f'slide (crop {seg.test_cfg.get("crop_size")}, stride '
                f'{seg.test_cfg.get("stride")})')
    return text + (', --aug-test (views averaged)' if aug_test else '')


def image_link(img_path: str, out_dir: str) -> Optional[str]:
    """The original image relative to the report folder (local files
    only; None for remote ones)."""
    if '://' in str(img_path) or not osp.isfile(img_path):
        return None
    try:
        return osp.relpath(osp.abspath(img_path), out_dir)
    except ValueError:  # another drive (Windows)
        return None


def _images(images: Sequence[Dict[str, Any]], classes: Sequence[str],
            out_dir: str) -> Tuple[List[Dict[str, Any]], np.ndarray]:
    """Each image's gallery record, and the set's ``[C, C]`` counts."""
    num = len(classes)
    total = np.zeros(num * num, dtype=np.int64)
    records = []
    for image in images:
        counts = np.zeros(num * num, dtype=np.int64)
        counts[image['index']] = image['values']
        total += counts
        record = dict(name=image['name'], img_path=image['img_path'],
                      img_link=image_link(image['img_path'], out_dir),
                      files=image['files'])
        record.update(summarize_image(counts.reshape(num, num), classes))
        records.append(record)
    return records, total.reshape(num, num)


def build_report(images: Sequence[Dict[str, Any]],
                 classes: Sequence[str],
                 palette: Sequence[Sequence[int]],
                 ignore_index: int,
                 record: Dict[str, Any],
                 per_class: Optional[Mapping[str, list]],
                 seg: torch.nn.Module,
                 out_dir: str) -> Tuple[Dict[str, Any], np.ndarray]:
    """The report record and the confusion matrix picture.

    Args:
        images: every image of :class:`~.gallery.Gallery`, gathered.
        classes, palette: the data set's (:func:`~.gallery.
            classes_and_palette`).
        ignore_index: the label value the metric leaves out.
        record: the run's test record
            (:func:`emanet.engine.run_record.build_test_record`).
        per_class: the test metric's per-class table, or None.
        seg: the tested segmentor.
        out_dir: the report folder (for links to the originals).

    Returns:
        tuple: the report (what ``report.json`` holds and
        :func:`~.page.render_page` renders) and the ``[H, W, 3]`` RGB
        picture of the confusion matrix.
    """
    records, counts = _images(images, classes, out_dir)  # [C, C]
    picture = plot_confusion_matrix(normalize_rows(counts) * 100, classes)
    settings = {
        'Config': record['config'],
        'Model file': record['model_file'],
        'Backend': record['backend'],
        'Mode': mode_label(record['mode'], seg, record['aug_test']),
        'Fast path': 'yes' if record['fast'] else 'no',
        'Precision': precision_label(seg, record['amp']),
        'Device': record['device'],
        'Date': datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        'Images': record['num_images'],
        'Test time': f'{record["seconds"]:.1f} s (with this report)',
    }
    report = dict(
        title='EMANet evaluation report: '
        + osp.basename(str(settings['Config'])),
        settings=settings,
        record=record,
        metrics={k: v for k, v in record['metrics'].items()
                 if isinstance(v, (int, float))},
        classes=list(classes),
        palette=[list(c) for c in palette],
        ignore_index=ignore_index,
        per_class=class_table(per_class, counts, classes),
        confusion=dict(image='confusion_matrix.png',
                       counts=counts.tolist(),
                       most_confused=most_confused(counts, classes)),
        error_colors={'wrong': list(WRONG_RGB),
                      'ignored': list(IGNORED_RGB)},
        images=worst_first(records))
    return report, picture
