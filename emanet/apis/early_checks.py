"""Cheap checks the tools run before they build anything.

mmengine's Runner logs the environment and the whole config (hundreds of
lines) before it reads a checkpoint or lists a data set, so a wrong path
found there ends a long output. These checks look at the paths first and
fail with one line naming the path (a :class:`UserError`).
"""
from typing import Iterator, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from emanet.engine.checkpoint.loading import check_model_file
from emanet.registry import DATASETS

__all__ = ['check_data_folders', 'check_model_file', 'check_pretrained_file',
           'pretrained_checkpoint']


def pretrained_checkpoint(model_cfg: dict) -> Optional[Tuple[str, str]]:
    """The pretrained backbone weights a model config asks for.

    Returns:
        tuple | None: ``(checkpoint, config key)``, e.g.
        ``('open-mmlab://resnet50_v1c', 'model.pretrained')``, or None.
    """
    if isinstance(model_cfg.get('pretrained'), str):
        return model_cfg['pretrained'], 'model.pretrained'
    backbone = model_cfg.get('backbone')
    if not isinstance(backbone, dict):
        return None
    if isinstance(backbone.get('pretrained'), str):
        return backbone['pretrained'], 'model.backbone.pretrained'
    init_cfg = backbone.get('init_cfg')
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained' \
            and isinstance(init_cfg.get('checkpoint'), str):
        return init_cfg['checkpoint'], 'model.backbone.init_cfg'
    return None


def check_pretrained_file(model_cfg: dict) -> None:
    """Fail in one line when local pretrained backbone weights are missing.

    Training reads them (``init_weights``) once the Runner is built; a URL
    is left to that download, whose failure is one line too
    (:class:`~emanet.models.backbones.ResNet`).

    Raises:
        MissingCheckpointError: the file does not exist or cannot be read.
    """
    found = pretrained_checkpoint(model_cfg)
    if found is None:
        return
    path, key = found
    check_model_file(
        path, f'pretrained backbone weights ({key})',
        f'point {key} at the file, or train from scratch with '
        f'--cfg-options {key}=None')


def _leaf_datasets(dataset_cfg) -> Iterator[dict]:
    """The data set configs inside wrappers (``dataset``/``datasets``)."""
    if not isinstance(dataset_cfg, dict):
        return
    inner = dataset_cfg.get('datasets', dataset_cfg.get('dataset'))
    if inner is None:
        yield dataset_cfg
    elif isinstance(inner, (list, tuple)):
        for item in inner:
            yield from _leaf_datasets(item)
    else:
        yield from _leaf_datasets(inner)


def check_data_folders(cfg: Config, splits: Sequence[str]) -> None:
    """Fail in one line when a data set folder or list file is missing.

    Each segmentation data set of the ``<split>_dataloader``s is built
    without listing its samples (``lazy_init``) and looks for its image
    folder or ``ann_file``, with the message it gives when the Runner
    builds it (naming the path and the expected layout).

    Args:
        cfg (Config): The config as the Runner gets it.
        splits: e.g. ``('train', 'val')``; splits the config lacks are
            skipped.

    Raises:
        MissingDataError: a folder or list file is missing.
    """
    from emanet.datasets.basesegdataset import BaseSegDataset
    scope = cfg.get('default_scope', 'emanet')
    with DefaultScope.overwrite_default_scope(scope):
        for split in splits:
            loader = cfg.get(f'{split}_dataloader')
            if not isinstance(loader, dict):
                continue
            for dataset_cfg in _leaf_datasets(loader.get('dataset')):
                dataset_cls = dataset_cfg.get('type')
                if isinstance(dataset_cls, str):
                    dataset_cls = DATASETS.get(dataset_cls)
                if not (isinstance(dataset_cls, type)
                        and issubclass(dataset_cls, BaseSegDataset)):
                    continue  # other data sets check themselves
                dataset = DATASETS.build(dict(dataset_cfg, lazy_init=True))
                # Raises the data set's own MissingDataError for a missing
                # folder or list file.
                dataset.list_sample_names()
