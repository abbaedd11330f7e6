"""Make ``*_gtFine_labelTrainIds.png`` files and split lists for Cityscapes.

Used by ``tools/dataset_converters/cityscapes.py`` and by the demo data
generator. Every file is written atomically (temporary file, fsync,
rename), so re-running gives identical files and an interrupted run leaves
no half-written PNG behind.
"""
import os
import os.path as osp
from multiprocessing import Pool
from typing import Dict, Iterable, List, Optional, Sequence

import cv2
import numpy as np

from emanet.utils.atomic_io import atomic_write_bytes
from emanet.utils.image_io import write_png

from .cityscapes_labels import id_to_train_id_table

LABEL_IDS_SUFFIX = '_gtFine_labelIds.png'
POLYGONS_SUFFIX = '_gtFine_polygons.json'
TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'
SPLITS = ('train', 'val', 'test')


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a ``[H, W]`` label-id map to train ids (19 classes, else 255)."""
    return id_to_train_id_table()[label_ids]


def _train_ids_from_label_ids(path: str) -> np.ndarray:
    label_ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label_ids is None:
        raise ValueError(f'Cannot decode label file {path}; re-extract it '
                         'from the Cityscapes gtFine archive')
    if label_ids.ndim != 2 or label_ids.dtype != np.uint8:
        raise ValueError(
            f'{path} should be a single-channel 8-bit labelIds PNG, got '
            f'shape {label_ids.shape} dtype {label_ids.dtype}')
    return label_ids_to_train_ids(label_ids)


def _train_ids_from_polygons(path: str) -> np.ndarray:
    try:
        from cityscapesscripts.helpers.annotation import Annotation
        from cityscapesscripts.preparation.json2labelImg import (
            createLabelImage,
        )
    except ImportError as e:
        raise ImportError(
            f'{path} has no {LABEL_IDS_SUFFIX} next to it; rasterising '
            'Cityscapes polygons needs the `cityscapesscripts` package: '
            'pip install cityscapesscripts (or pip install -e ".[cityscapes]"'
            ')') from e
    annotation = Annotation()
    annotation.fromJsonFile(path)
    return np.asarray(createLabelImage(annotation, 'trainIds'), np.uint8)


def convert_label_file(source: str) -> str:
    """Write the ``*_gtFine_labelTrainIds.png`` next to one label file.

    Args:
        source: a ``*_gtFine_labelIds.png`` or ``*_gtFine_polygons.json``.

    Returns:
        The path of the written trainIds PNG.
    """
    if source.endswith(LABEL_IDS_SUFFIX):
        train_ids = _train_ids_from_label_ids(source)
        target = source[:-len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX
    elif source.endswith(POLYGONS_SUFFIX):
        train_ids = _train_ids_from_polygons(source)
        target = source[:-len(POLYGONS_SUFFIX)] + TRAIN_IDS_SUFFIX
    else:
        raise ValueError(f'{source} is neither a *{LABEL_IDS_SUFFIX} nor a '
                         f'*{POLYGONS_SUFFIX} file')
    write_png(target, train_ids)
    return target


def find_label_sources(gt_dir: str) -> List[str]:
    """One source per frame: the labelIds PNG if present, else the JSON."""
    by_frame: Dict[str, str] = {}
    for root, _, files in os.walk(gt_dir):
        for name in files:
            for suffix in (LABEL_IDS_SUFFIX, POLYGONS_SUFFIX):
                if not name.endswith(suffix):
                    continue
                frame = osp.join(root, name[:-len(suffix)])
                # labelIds win: they need no polygon rasteriser.
                if suffix == LABEL_IDS_SUFFIX or frame not in by_frame:
                    by_frame[frame] = osp.join(root, name)
    return [by_frame[k] for k in sorted(by_frame)]


def split_frames(gt_dir: str, split: str) -> List[str]:
    """Sorted ``<city>/<city>_<seq>_<frame>`` names of one split."""
    split_dir = osp.join(gt_dir, split)
    names = set()
    for source in find_label_sources(split_dir):
        rel = osp.relpath(source, split_dir).replace(os.sep, '/')
        for suffix in (LABEL_IDS_SUFFIX, POLYGONS_SUFFIX):
            if rel.endswith(suffix):
                names.add(rel[:-len(suffix)])
    return sorted(names)


def write_split_lists(gt_dir: str, out_dir: str,
                      splits: Sequence[str] = SPLITS) -> List[str]:
    """Write ``<split>.txt`` for every split folder that exists in gt_dir."""
    written = []
    for split in splits:
        if not osp.isdir(osp.join(gt_dir, split)):
            continue
        path = osp.join(out_dir, f'{split}.txt')
        text = ''.join(f'{name}\n' for name in split_frames(gt_dir, split))
        atomic_write_bytes(path, text.encode())
        written.append(path)
    return written


def _progress(items: Iterable, total: int, enabled: bool) -> Iterable:
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, total=total, desc='labelTrainIds', unit='file')


def convert_cityscapes(data_root: str,
                       gt_dir: str = 'gtFine',
                       out_dir: Optional[str] = None,
                       nproc: int = 1,
                       progress: bool = True) -> List[str]:
    """Convert all Cityscapes labels under ``data_root/gt_dir``.

    Args:
        data_root: the Cityscapes root (holds ``leftImg8bit`` and ``gtFine``).
        gt_dir: label folder, relative to ``data_root``.
        out_dir: where the split lists go; defaults to ``data_root``.
        nproc: number of worker processes.
        progress: show a tqdm progress bar.

    Returns:
        The written trainIds PNG paths, sorted.
    """
    gt_path = osp.join(data_root, gt_dir)
    sources = find_label_sources(gt_path) if osp.isdir(gt_path) else []
    if not sources:
        raise FileNotFoundError(
            f'No *{LABEL_IDS_SUFFIX} or *{POLYGONS_SUFFIX} files under '
            f'{gt_path}; expected {gt_dir}/{{train,val,test}}/<city>/'
            f'<city>_<seq>_<frame>{LABEL_IDS_SUFFIX} as unpacked from '
            'Cityscapes gtFine_trainvaltest.zip')
    if nproc > 1:
        with Pool(nproc) as pool:
            targets = list(
                _progress(
                    pool.imap_unordered(convert_label_file, sources, 8),
                    len(sources), progress))
    else:
        targets = list(
            _progress(map(convert_label_file, sources), len(sources),
                      progress))
    out_dir = out_dir or data_root
    os.makedirs(out_dir, exist_ok=True)
    write_split_lists(gt_path, out_dir)
    return sorted(targets)
