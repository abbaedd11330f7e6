"""BaseSegDataset: image / label-map pairs listed from folders or a list."""
import copy
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

import mmengine
import numpy as np
from mmengine.dataset import BaseDataset, Compose
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from emanet.registry import DATASETS, TRANSFORMS
from emanet.utils.errors import BadDataError, MissingDataError


@DATASETS.register_module()
class BaseSegDataset(BaseDataset):
    """Semantic segmentation data set: ``xxx{img_suffix}`` images with
    ``xxx{seg_map_suffix}`` label maps under two parallel folders.

    Every sample's ``data_info`` holds ``img_path``, ``seg_map_path``,
    ``label_map``, ``reduce_zero_label`` and ``seg_fields=[]`` (the keys of
    mmsegmentation 1.x). Before the pipeline runs, ``num_classes`` is added
    so that ``LoadAnnotations`` can reject label values that are neither a
    class index nor ``ignore_index``.

    Args:
        ann_file: optional text file of basenames (``xxx`` without suffix),
            relative to ``data_root``; without it the image folder is
            scanned recursively.
        img_suffix: image file suffix.
        seg_map_suffix: label map file suffix.
        metainfo: overrides ``METAINFO`` (e.g. a subset of ``classes``).
        data_root: root joined with ``ann_file`` and ``data_prefix``.
        data_prefix: ``dict(img_path=..., seg_map_path=...)``.
        filter_cfg, indices, serialize_data, test_mode, lazy_init,
            max_refetch: as :class:`mmengine.dataset.BaseDataset`.
        pipeline: transforms (configs are built in the ``emanet`` scope).
        ignore_index: label of ignored pixels.
        reduce_zero_label: map label 0 to 255 and shift the others down.
        backend_args: mmengine file backend arguments.
        skip_bad_samples: in training, a sample whose files are bad
            (undecodable, size mismatch, invalid label values, missing
            label) is skipped with a warning and counted in
            ``num_skipped`` instead of stopping the run; mmengine's
            ``BaseDataset`` then draws another sample. In test mode bad
            files always raise, since every image must be evaluated; an
            image without its label or a label without its image is
            dropped when the data set is listed, with a warning that
            gives the count, in either mode.
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 metainfo: Optional[dict] = None,
                 data_root: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: Optional[List[Union[dict, Callable]]] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 backend_args: Optional[dict] = None,
                 skip_bad_samples: bool = False) -> None:
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.backend_args = backend_args.copy() if backend_args else None
        self.skip_bad_samples = skip_bad_samples
        self.num_skipped = 0
        self.data_root = data_root
        self.data_prefix = copy.copy(data_prefix) if data_prefix else dict(
            img_path='', seg_map_path='')
        self.ann_file = ann_file
        self.filter_cfg = copy.deepcopy(filter_cfg)
        self._indices = indices
        self.serialize_data = serialize_data
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        self.data_list: List[dict] = []
        self.data_bytes: np.ndarray

        self._metainfo = self._load_metainfo(copy.deepcopy(metainfo))
        self.label_map = self.get_label_map(self._metainfo.get('classes'))
        self._metainfo.update(
            dict(
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label))
        self._metainfo.update(dict(palette=self._update_palette()))

        if self.data_root is not None:
            self._join_prefix()
        # Build in the emanet scope so that nested transforms (e.g. inside
        # mmcv's TestTimeAug) find ours even without a Runner.
        with DefaultScope.overwrite_default_scope('emanet'):
            self.pipeline = Compose([
                TRANSFORMS.build(t) if isinstance(t, dict) else t
                for t in (pipeline or [])
            ])
        if not lazy_init:
            self.full_init()
        if test_mode and self._metainfo.get('classes') is None:
            raise ValueError('dataset metainfo `classes` must be set when '
                             'testing')

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None
                      ) -> Optional[Dict[int, int]]:
        """Old class index → new index when ``classes`` is a subset.

        Returns ``None`` when the classes are those of ``METAINFO``.
        """
        old_classes = cls.METAINFO.get('classes')
        if (new_classes is None or old_classes is None
                or list(new_classes) == list(old_classes)):
            return None
        if not set(new_classes).issubset(old_classes):
            raise ValueError(f'classes {list(new_classes)} are not a subset '
                             f'of {cls.__name__} classes {old_classes}')
        return {
            i: new_classes.index(c) if c in new_classes else 255
            for i, c in enumerate(old_classes)
        }

    def _update_palette(self) -> list:
        """Palette matching ``classes`` (subset, or a fixed random one)."""
        palette = self._metainfo.get('palette', [])
        classes = self._metainfo.get('classes', [])
        if len(palette) == len(classes):
            return palette
        if len(palette) == 0:
            rng = np.random.RandomState(42)
            return rng.randint(0, 255, size=(len(classes), 3)).tolist()
        if len(palette) >= len(classes) and self.label_map is not None:
            return [
                palette[old]
                for old, new in sorted(self.label_map.items(),
                                       key=lambda x: x[1]) if new != 255
            ]
        raise ValueError(f'palette has {len(palette)} colours for '
                         f'{len(classes)} classes')

    # -- listing ---------------------------------------------------------
    def _layout_hint(self) -> str:
        """How the folders should look, for error messages."""
        return (f'expected images {self.data_prefix.get("img_path")}/'
                f'<sub-folders>/xxx{self.img_suffix} and labels '
                f'{self.data_prefix.get("seg_map_path")}/<sub-folders>/'
                f'xxx{self.seg_map_suffix}')

    def list_sample_names(self) -> List[str]:
        """The samples' names (relative, without ``img_suffix``).

        Reads ``ann_file`` or scans the image folder, opening no image: a
        cheap check that the folder or list file exists, which the tools
        run on a ``lazy_init=True`` data set before building a Runner.

        Returns:
            list[str]: The names, in file order (``ann_file``) or sorted.

        Raises:
            MissingDataError: ``ann_file`` or the image folder is missing.
        """
        img_dir = self.data_prefix.get('img_path', None)
        if self.ann_file and not osp.isdir(self.ann_file):
            if not osp.isfile(self.ann_file):
                raise MissingDataError(
                    f'ann_file {self.ann_file} does not exist; '
                    f'{self._layout_hint()}')
            lines = mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args)
            return [line.strip() for line in lines if line.strip()]
        if self.backend_args is None and not osp.isdir(img_dir):
            raise MissingDataError(
                f'image folder {img_dir} does not exist; '
                f'{self._layout_hint()}')
        return self._scan(img_dir, self.img_suffix)

    def _scan(self, folder: str, suffix: str) -> List[str]:
        """Names (relative, without ``suffix``) of the files in ``folder``."""
        n = len(suffix)
        return sorted(
            name[:-n] for name in mmengine.list_dir_or_file(
                dir_path=folder,
                list_dir=False,
                suffix=suffix,
                recursive=True,
                backend_args=self.backend_args))

    def load_data_list(self) -> List[dict]:
        """List samples from ``ann_file`` or by scanning the image folder.

        Every image must have its label and every label its image (listed
        images must exist), so that no sample is dropped unnoticed.

        Raises:
            MissingDataError: the folder is missing or holds no image, or
                an image or a label lacks its counterpart (unless
                ``skip_bad_samples``, which drops the sample with a warning
                and counts it in ``num_skipped``).
        """
        img_dir = self.data_prefix.get('img_path', None)
        ann_dir = self.data_prefix.get('seg_map_path', None)
        names = self.list_sample_names()
        if not names:
            raise MissingDataError(
                f'no *{self.img_suffix} image found under {img_dir}; '
                f'{self._layout_hint()}')
        local = self.backend_args is None
        listed = bool(self.ann_file) and not osp.isdir(self.ann_file)
        data_list, no_image, no_label = [], [], []
        for name in names:
            info = dict(img_path=osp.join(img_dir, name + self.img_suffix))
            if ann_dir is not None:
                info['seg_map_path'] = osp.join(ann_dir,
                                                name + self.seg_map_suffix)
            if local and listed and not osp.isfile(info['img_path']):
                no_image.append(info)
                continue
            if (local and ann_dir is not None
                    and not osp.isfile(info['seg_map_path'])):
                no_label.append(info)
                continue
            info['label_map'] = self.label_map
            info['reduce_zero_label'] = self.reduce_zero_label
            info['seg_fields'] = []
            data_list.append(info)
        if local and not listed and ann_dir is not None and osp.isdir(
                ann_dir):
            # A label whose image is gone: the scan above never saw it.
            for name in sorted(set(self._scan(ann_dir, self.seg_map_suffix))
                               - set(names)):
                no_image.append(dict(
                    img_path=osp.join(img_dir, name + self.img_suffix),
                    seg_map_path=osp.join(ann_dir,
                                          name + self.seg_map_suffix)))
        total = len(names) + (0 if listed else len(no_image))
        if no_image:
            first = no_image[0]
            self._report_unpaired(
                len(no_image),
                f'{len(no_image)} of {total} samples have no image file, '
                f'e.g. label {first["seg_map_path"]} expects image '
                f'{first["img_path"]}. Restore the images, or remove the '
                'labels (and the names in ann_file); check data_prefix and '
                f'img_suffix ({self.img_suffix}).')
        if no_label:
            first = no_label[0]
            self._report_unpaired(
                len(no_label),
                f'{len(no_label)} of {total} samples have no label file, '
                f'e.g. image {first["img_path"]} expects label '
                f'{first["seg_map_path"]}. {self._missing_label_advice()}')
        return data_list

    def _report_unpaired(self, count: int, msg: str) -> None:
        """Raise, or with ``skip_bad_samples`` warn and count the samples."""
        if not self.skip_bad_samples:
            raise MissingDataError(msg)
        self.num_skipped += count
        print_log(f'Skipping them (skip_bad_samples=True): {msg}',
                  logger='current', level=30)

    def _missing_label_advice(self) -> str:
        return f'Create the *{self.seg_map_suffix} files or fix data_prefix.'

    # -- samples ---------------------------------------------------------
    def prepare_data(self, idx: int):
        """Run the pipeline on one sample (``num_classes`` added first).

        Returns ``None`` for a bad sample when ``skip_bad_samples`` is set
        in training, which makes mmengine's ``BaseDataset`` pick another.
        """
        data_info = self.get_data_info(idx)
        classes = self._metainfo.get('classes')
        if classes is not None:
            data_info['num_classes'] = len(classes)
        try:
            return self.pipeline(data_info)
        except (BadDataError, FileNotFoundError) as e:
            if not self.skip_bad_samples or self.test_mode:
                raise
            self.num_skipped += 1
            print_log(
                f'Skipped bad sample {data_info.get("img_path")} '
                f'({self.num_skipped} skipped so far in this process): {e}',
                logger='current',
                level=30)
            return None
