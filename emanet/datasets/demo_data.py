"""A small generated street-scene data set in the Cityscapes layout.

The scenes of :mod:`emanet.datasets.demo_scenes` (real Cityscapes labels,
one colour and texture per class) written as the official download::

    ROOT/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    ROOT/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
                                      ..._gtFine_instanceIds.png
                                      ..._gtFine_polygons.json
                                      ..._gtFine_labelTrainIds.png
    ROOT/{train,val}.txt

``labelIds`` are the polygons rasterised exactly as ``cityscapesscripts``
does, so converting from either gives the same train ids. The same seed
always gives the same bytes.

Data sets only read the folder; where it is missing, the tools generate
it before building the Runner (:func:`emanet.apis.tool_run.prepare_demo_data`
finds the folders in a config and calls :func:`ensure_demo_data`).
"""
import contextlib
import json
import logging
import os
import os.path as osp
import time
from typing import Iterator, Optional

import cv2
from mmengine.logging import print_log

from emanet.utils.atomic_io import atomic_dir
from emanet.utils.errors import DataRootError, MissingDataError

from .cityscapes_converter import convert_cityscapes
from .demo_scenes import HEIGHT, WIDTH, render_scene

DEFAULT_ROOT = 'data/cityscapes_demo'
MAKE_COMMAND = 'python tools/misc/make_demo_data.py'
# Generation takes seconds; the other ranks stop waiting only for a local
# rank 0 that died without its launcher ending them.
WAIT_TIMEOUT = 600.0
TRAIN_CITIES = ('demotown', 'sampleville')
VAL_CITIES = ('testburg', )


def _write_frame(root: str, split: str, city: str, frame: int,
                 seed_seq) -> None:
    image, label_ids, instance_ids, annotation = render_scene(seed_seq)
    stem = f'{city}_000000_{frame:06d}'
    img_dir = osp.join(root, 'leftImg8bit', split, city)
    gt_dir = osp.join(root, 'gtFine', split, city)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(gt_dir, exist_ok=True)
    cv2.imwrite(osp.join(img_dir, f'{stem}_leftImg8bit.png'), image)
    cv2.imwrite(osp.join(gt_dir, f'{stem}_gtFine_labelIds.png'), label_ids)
    cv2.imwrite(
        osp.join(gt_dir, f'{stem}_gtFine_instanceIds.png'), instance_ids)
    with open(osp.join(gt_dir, f'{stem}_gtFine_polygons.json'), 'w') as f:
        json.dump(annotation, f, indent=4)
        f.write('\n')


def generate_demo_data(out_dir: str,
                       num_train: int = 60,
                       num_val: int = 12,
                       seed: int = 0) -> str:
    """Write the demo data set into ``out_dir`` (which must not exist).

    Everything is written into a temporary folder next to ``out_dir`` and
    renamed at the end, so an interrupted or concurrent run never leaves a
    half-written data set; temporary folders of killed runs are removed
    first. If another process finished first, its data set is kept.

    Returns:
        ``out_dir``.
    """
    out_dir = osp.normpath(out_dir)
    # A data set that another process finished first is kept.
    with atomic_dir(out_dir, is_complete=is_demo_data) as tmp:
        for split, count, cities, split_id in (
                ('train', num_train, TRAIN_CITIES, 0),
                ('val', num_val, VAL_CITIES, 1)):
            for i in range(count):
                city = cities[i % len(cities)]
                _write_frame(tmp, split, city, i // len(cities) * 19 + 19,
                             [seed, split_id, i])
        convert_cityscapes(tmp, progress=False)
        with open(osp.join(tmp, 'demo_info.json'), 'w') as f:
            json.dump(
                dict(num_train=num_train, num_val=num_val, seed=seed,
                     height=HEIGHT, width=WIDTH), f)
    return out_dir


def is_demo_data(root: str) -> bool:
    """Whether ``root`` holds a complete generated data set."""
    return osp.isfile(osp.join(root, 'demo_info.json'))


def _is_absent(root: str) -> bool:
    """Whether nothing is at ``root`` yet: no such path, or an empty folder.

    Generation renames a complete folder into place, so a root that is not
    absent is never half-written.
    """
    if osp.isdir(root):
        return not os.listdir(root)
    return not osp.lexists(root)


def _is_cityscapes_layout(root: str) -> bool:
    return all(osp.isdir(osp.join(root, d)) for d in ('leftImg8bit', 'gtFine'))


def _foreign_root_error(root: str) -> DataRootError:
    return DataRootError(
        f'{root} exists but holds neither generated demo data (no '
        'demo_info.json) nor the Cityscapes layout (leftImg8bit/, '
        'gtFine/); to use your own data, point data_root at a folder in '
        'the Cityscapes layout or set dataset.type=CityscapesDataset in '
        'the data loaders; to generate the demo data, choose a new or '
        'empty data_root')


def check_demo_root(root: str) -> None:
    """Check, writing nothing, that ``root`` holds a data set to read.

    A folder in the Cityscapes layout (``leftImg8bit/`` and ``gtFine/``)
    that was not generated is used as it is (one log line), so the demo
    schedule runs on one's own data by pointing ``data_root`` at it.

    Args:
        root (str): The data set folder.

    Raises:
        MissingDataError: Nothing is at ``root``; the message says how to
            generate the demo data there.
        DataRootError: ``root`` exists, is not empty and holds neither a
            generated nor a Cityscapes-layout data set.
    """
    if is_demo_data(root):
        return
    if _is_cityscapes_layout(root):
        print_log(
            f'{root} is not generated demo data; using it as a data set in '
            'the Cityscapes layout (dataset.type=CityscapesDataset does the '
            'same without this check).', logger='current', level=logging.INFO)
        return
    if _is_absent(root):
        raise MissingDataError(
            f'no demo data set at {root}: generate it with `{MAKE_COMMAND} '
            f'--out {root}` (tools/train.py, tools/test.py and the '
            'benchmarks do this before building the data sets)')
    raise _foreign_root_error(root)


@contextlib.contextmanager
def _exclusive_lock(folder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` against other processes.

    Where locks are unsupported (no ``fcntl``, some network file systems)
    this does nothing: generation still renames a complete folder into
    place, so processes racing each other only repeat the work.
    """
    try:
        import fcntl
        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def ensure_demo_data(root: str = DEFAULT_ROOT,
                     num_train: int = 60,
                     num_val: int = 12,
                     seed: int = 0) -> bool:
    """Generate the demo data set at ``root`` unless a data set is there.

    Processes calling this at the same time generate it once: each takes a
    lock on the parent folder and checks again, so the first generates and
    the others find its data set. A folder in the Cityscapes layout is left
    as it is (see :func:`check_demo_root`).

    Args:
        root (str): The data set folder (missing, or an empty folder).
        num_train (int): Training images.
        num_val (int): Validation images.
        seed (int): The same seed gives the same bytes.

    Returns:
        bool: Whether this call generated the data set.

    Raises:
        DataRootError: ``root`` exists, is not empty and holds neither a
            generated nor a Cityscapes-layout data set.
    """
    if is_demo_data(root) or _is_cityscapes_layout(root):
        return False
    if not _is_absent(root):
        raise _foreign_root_error(root)
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with _exclusive_lock(parent):
        if not _is_absent(root):  # another process generated it meanwhile
            return False
        generate_demo_data(root, num_train, num_val, seed)
    return True


def wait_for_demo_data(root: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until another process has put a data set at ``root``.

    Generation renames a complete folder into place, so once something is
    there it is whole (see :func:`_is_absent`).

    Args:
        root (str): The data set folder.
        timeout (float): Seconds to wait.

    Raises:
        MissingDataError: Nothing came within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while _is_absent(root):
        if time.monotonic() > deadline:
            raise MissingDataError(
                f'no demo data set at {root} after waiting {timeout:.0f} s '
                'for local rank 0 to generate it; generate it first with '
                f'`{MAKE_COMMAND} --out {root}`')
        time.sleep(0.1)


def describe_demo_data(root: str) -> Optional[str]:
    """One line describing the data set at ``root`` (None if absent)."""
    if not is_demo_data(root):
        return None
    with open(osp.join(root, 'demo_info.json')) as f:
        info = json.load(f)
    return (f'{root}: {info["num_train"]} train + {info["num_val"]} val '
            f'images, {info["height"]}x{info["width"]}, seed {info["seed"]}')
