"""Cityscapes data sets: the real one and the generated demo one."""
import os.path as osp
from typing import Optional

from emanet.registry import DATASETS

from .basesegdataset import BaseSegDataset
from .demo_data import DEFAULT_ROOT, check_demo_root

CONVERTER = 'python tools/dataset_converters/cityscapes.py'


@DATASETS.register_module()
class CityscapesDataset(BaseSegDataset):
    """Cityscapes fine annotations, 19 classes, labels as train ids.

    Expected layout (as unpacked from the official archives, then
    ``tools/dataset_converters/cityscapes.py DATA_ROOT``)::

        DATA_ROOT/leftImg8bit/{train,val,test}/<city>/
            <city>_<seq>_<frame>_leftImg8bit.png
        DATA_ROOT/gtFine/{train,val,test}/<city>/
            <city>_<seq>_<frame>_gtFine_labelTrainIds.png

    Args:
        img_suffix: image suffix.
        seg_map_suffix: label map suffix (train ids, 255 = ignored).
        **kwargs: see :class:`BaseSegDataset` (``data_root``,
            ``data_prefix``, ``ann_file``, ``pipeline``, ``lazy_init``,
            ``reduce_zero_label``, ``skip_bad_samples``, ...).
    """

    METAINFO = dict(
        classes=('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
                 'traffic light', 'traffic sign', 'vegetation', 'terrain',
                 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
                 'motorcycle', 'bicycle'),
        palette=[[128, 64, 128], [244, 35, 232], [70, 70, 70],
                 [102, 102, 156], [190, 153, 153], [153, 153, 153],
                 [250, 170, 30], [220, 220, 0], [107, 142, 35],
                 [152, 251, 152], [70, 130, 180], [220, 20, 60],
                 [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100],
                 [0, 80, 100], [0, 0, 230], [119, 11, 32]])

    def __init__(self,
                 img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def _root(self) -> str:
        return self.data_root if self.data_root else 'DATA_ROOT'

    def _layout_hint(self) -> str:
        root = self._root()
        return (
            'expected the Cityscapes layout '
            f'{root}/leftImg8bit/{{train,val,test}}/<city>/<city>_<seq>_'
            f'<frame>{self.img_suffix} and {root}/gtFine/{{train,val,test}}/'
            f'<city>/<city>_<seq>_<frame>{self.seg_map_suffix} (made by '
            f'`{CONVERTER} {root}`); check data_root and data_prefix')

    def _missing_label_advice(self) -> str:
        return (f'Run `{CONVERTER} {self._root()}` to write the '
                f'*{self.seg_map_suffix} files from *_gtFine_labelIds.png '
                '/ *_gtFine_polygons.json.')


@DATASETS.register_module()
class CityscapesDemoDataset(CityscapesDataset):
    """:class:`CityscapesDataset` on the generated demo street scenes.

    It only reads ``data_root``: the tools generate the data set there
    before building the Runner
    (:func:`emanet.apis.tool_run.prepare_demo_data`), as does
    ``tools/misc/make_demo_data.py``. It has the real Cityscapes layout and
    label ids; a folder in the Cityscapes layout that was not generated is
    read as it is.

    Args:
        data_root: the data set folder (default ``data/cityscapes_demo``).
        **kwargs: see :class:`CityscapesDataset`.

    Raises:
        MissingDataError: nothing is at ``data_root``; the message says how
            to generate it.
        DataRootError: ``data_root`` holds something else.
    """

    def __init__(self,
                 data_root: Optional[str] = DEFAULT_ROOT,
                 **kwargs) -> None:
        data_root = data_root or DEFAULT_ROOT
        check_demo_root(osp.normpath(data_root))
        super().__init__(data_root=data_root, **kwargs)
