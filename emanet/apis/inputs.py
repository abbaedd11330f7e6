"""What the inferencer reads: images from paths, arrays, folders, globs.

:func:`list_sources` turns the inputs into :class:`Source` s, each with
the name its output files take: a folder's images keep their sub-folders
relative to it (two ``a.png`` in different folders never collide), a
glob's relative to its folder before the first wildcard, a list's files
relative to their common folder. :class:`SourceDataset` reads them
through the test pipeline, in data loader workers, and reports a file
that is not an image instead of raising in the worker.
"""
import glob
import os
import os.path as osp
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from emanet.utils.errors import BadDataError, MissingDataError, UserError

# what a folder or a glob yields (case-insensitive)
IMAGE_SUFFIXES = ('.bmp', '.jpeg', '.jpg', '.pgm', '.png', '.ppm', '.tif',
                  '.tiff', '.webp')
WILDCARDS = '*?['


class Source(NamedTuple):
    """One input image.

    Attributes:
        name: its output name without suffix, ``/``-separated (e.g.
            ``'frankfurt/frankfurt_000000_000294_leftImg8bit'``).
        path: the image file, or None for an array.
        array: a BGR ``[H, W, 3]`` uint8 array, or None for a file.
    """
    name: str
    path: Optional[str] = None
    array: Optional[np.ndarray] = None


def read_image(path: str) -> np.ndarray:
    """A BGR ``[H, W, 3]`` uint8 image from a file.

    Raises:
        MissingDataError: no such file.
        BadDataError: the file is empty or not an image OpenCV decodes
            (one line naming it).
    """
    if not osp.isfile(path):
        raise MissingDataError(f'image file not found: {path}')
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        raise BadDataError(f'{path} is empty (0 bytes), not an image')
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise BadDataError(f'{path} is not an image OpenCV can decode '
                           f'({len(data)} bytes)')
    return image


def _stem(path: str, root: str) -> str:
    rel = osp.relpath(path, root) if root else osp.basename(path)
    return osp.splitext(rel)[0].replace(os.sep, '/')


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


def _folder_images(folder: str) -> List[str]:
    """The image files under ``folder``, recursively, sorted."""
    found = []
    for dirpath, dirnames, files in os.walk(folder):
        dirnames.sort()
        found += [osp.join(dirpath, f) for f in sorted(files)
                  if _is_image(f)]
    return found


def _glob_root(pattern: str) -> str:
    """The folder of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(c in part for c in WILDCARDS):
            break
        fixed.append(part)
    if len(fixed) == len(parts):  # no wildcard: the file's folder
        fixed = fixed[:-1]
    return osp.join(*fixed) if fixed else ''


def _expand(item: str) -> List[str]:
    """The image files of a path, folder or glob (sorted)."""
    if osp.isdir(item):
        files = _folder_images(item)
        where = f'the folder {item}'
    elif osp.isfile(item):
        return [item]
    elif any(c in item for c in WILDCARDS):
        files = sorted(p for p in glob.glob(item, recursive=True)
                       if osp.isfile(p) and _is_image(p))
        where = f'the files matching {item}'
    else:
        raise MissingDataError(f'{item} is not a file, a folder or a glob '
                               'that matches files')
    if not files:
        raise MissingDataError(f'no images ({", ".join(IMAGE_SUFFIXES)}) '
                               f'in {where}')
    return files


def list_sources(inputs: Any) -> List[Source]:
    """The images of ``inputs`` with their output names.

    Args:
        inputs: a path (image file, folder walked recursively, or glob), a
            BGR ``[H, W, 3]`` (or ``[H, W]``) uint8 array, or a list of
            them.

    Raises:
        MissingDataError: a path that is neither, or yields no image.
        UserError: two inputs that would write the same output name.
    """
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    sources: List[Source] = []
    singles: List[int] = []  # files given one by one (named at the end)
    for item in items:
        if isinstance(item, np.ndarray):
            array = item if item.ndim == 3 else np.repeat(item[..., None],
                                                          3, axis=2)
            sources.append(Source(f'{len(sources):08d}', None, array))
        elif isinstance(item, (str, Path)):
            item = str(item)
            files = _expand(item)
            if osp.isfile(item):
                singles.append(len(sources))
                sources.append(Source('', item))
                continue
            root = item if osp.isdir(item) else _glob_root(item)
            sources += [Source(_stem(f, root), f) for f in files]
        else:
            raise TypeError('inputs must be paths, arrays or a list of '
                            f'them, got {type(item).__name__}')
    if singles:
        # a list's files keep their folders below the common one
        paths = [osp.abspath(sources[i].path) for i in singles]
        root = osp.commonpath([osp.dirname(p) for p in paths]) \
            if len(paths) > 1 else ''
        for i, path in zip(singles, paths):
            sources[i] = sources[i]._replace(name=_stem(path, root))
    _check_unique(sources)
    return sources


def _check_unique(sources: Sequence[Source]) -> None:
    seen: Dict[str, Source] = {}
    for source in sources:
        other = seen.setdefault(source.name, source)
        if other is not source:
            raise UserError(
                f'{other.path or "an array"} and {source.path or "an array"}'
                f' would both write outputs named {source.name}: give them '
                'in separate calls or rename one')


class SourceDataset(Dataset):
    """The sources read through a pipeline, one packed image per item.

    An item is ``dict(index=i, inputs=..., data_samples=...)`` (and the
    BGR ``image`` read, with ``keep_images``), or ``dict(index=i,
    error=message)`` for a file that is not an image (the main process
    decides whether that stops the run).

    Args:
        sources: from :func:`list_sources`.
        pipeline: the test pipeline without image loading, taking
            ``img``, ``img_path``, ``img_shape`` and ``ori_shape``.
        keep_images: add each image as read (for its overlay).
    """

    def __init__(self, sources: Sequence[Source],
                 pipeline: Callable[[dict], dict],
                 keep_images: bool = False) -> None:
        self.sources, self.pipeline = list(sources), pipeline
        self.keep_images = keep_images

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> dict:
        source = self.sources[index]
        if source.array is not None:
            image = source.array
        else:
            try:
                image = read_image(source.path)
            except UserError as err:
                return dict(index=index, error=str(err))
        shape = image.shape[:2]
        packed = self.pipeline(dict(img=image, img_path=source.path,
                                    img_shape=shape, ori_shape=shape))
        item = dict(index=index, inputs=packed['inputs'],
                    data_samples=packed['data_samples'])
        if self.keep_images:
            item['image'] = image
        return item
