"""The start-up the tools run after reading the config, before building.

:func:`prepare_tool_run` does what each tool needs of these steps, in this
order:

1. check the model file the tool reads (``model_file``);
2. check local pretrained backbone weights (``pretrained``);
3. generate the demo data sets the config reads where they are missing
   (``demo_data``): local rank 0 generates, the other ranks of its machine
   wait for the folder;
4. check the data folders of ``splits``;
5. set the config's default registry scope (``scope``).

The checks fail in one line naming the path (a :class:`UserError`) before
a model takes seconds to build and before mmengine's Runner logs the
environment and the config; the model file is checked before the demo
data, which takes seconds to generate.
"""
import logging
import os.path as osp
import time
from typing import Any, List, Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from emanet.datasets.cityscapes import CityscapesDemoDataset
from emanet.datasets.demo_data import (
    DEFAULT_ROOT,
    WAIT_TIMEOUT,
    describe_demo_data,
    ensure_demo_data,
    wait_for_demo_data,
)
from emanet.engine.dist_env import local_rank
from emanet.registry import DATASETS

from .early_checks import (
    check_data_folders,
    check_model_file,
    check_pretrained_file,
)

__all__ = ['demo_data_roots', 'prepare_demo_data', 'prepare_tool_run']


def _is_demo_type(dataset_type: Any) -> bool:
    """Whether a config's ``type`` names :class:`CityscapesDemoDataset`."""
    cls = DATASETS.get(dataset_type) if isinstance(dataset_type, str) \
        else dataset_type
    return isinstance(cls, type) and issubclass(cls, CityscapesDemoDataset)


def demo_data_roots(cfg: Config) -> List[str]:
    """The ``data_root`` of each demo data set in ``cfg``'s data loaders.

    Data sets wrapped by others (``dataset=`` / ``datasets=``) count too;
    each folder is listed once, in the order found.
    """
    roots: List[str] = []

    def visit(dataset: Any) -> None:
        if isinstance(dataset, (list, tuple)):
            for item in dataset:
                visit(item)
            return
        if not isinstance(dataset, dict):
            return
        if _is_demo_type(dataset.get('type')):
            root = osp.normpath(dataset.get('data_root') or DEFAULT_ROOT)
            if root not in roots:
                roots.append(root)
        visit(dataset.get('dataset'))
        visit(dataset.get('datasets'))

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict):
            visit(loader.get('dataset'))
    return roots


def prepare_demo_data(cfg: Config,
                      timeout: float = WAIT_TIMEOUT) -> List[str]:
    """Generate the demo data sets a config reads, unless they exist.

    Under a launcher, local rank 0 generates and the other ranks of its
    machine wait for the folder: the process group does not exist yet, so
    they watch the file system (the local rank is
    :func:`emanet.engine.dist_env.local_rank` of ``cfg.launcher``). One log
    line per data set generated.

    Args:
        cfg (Config): The config; its ``train/val/test_dataloader``
            data sets of type ``CityscapesDemoDataset`` are prepared.
        timeout (float): Seconds the other ranks wait for local rank 0.

    Returns:
        list: The demo data folders of the config.

    Raises:
        DataRootError: A demo ``data_root`` holds something else.
        MissingDataError: Another rank waited ``timeout`` seconds in vain.
    """
    roots = demo_data_roots(cfg)
    generates = local_rank(cfg.get('launcher')) == 0
    for root in roots:
        if not generates:
            wait_for_demo_data(root, timeout)
            continue
        start = time.perf_counter()
        if ensure_demo_data(root):
            print_log(
                f'generated the demo data set in '
                f'{time.perf_counter() - start:.1f} s: '
                f'{describe_demo_data(root)}',
                logger='current', level=logging.INFO)
    return roots


def prepare_tool_run(cfg: Config,
                     *,
                     model_file: Optional[str] = None,
                     model_what: str = 'model file',
                     pretrained: bool = False,
                     demo_data: bool = False,
                     splits: Sequence[str] = (),
                     scope: bool = True,
                     demo_timeout: float = WAIT_TIMEOUT) -> List[str]:
    """Check and prepare what a tool reads, before it builds anything.

    The steps run in the order of their arguments below, each only where
    asked; the first that fails raises its one-line error and the later
    ones do not run.

    Args:
        cfg (Config): The config as the tool will use it (``launcher``
            set where the tool takes ``--launcher``).
        model_file (str, optional): A checkpoint or exported model the
            tool reads; a local path that does not exist, is a folder or
            cannot be read is refused (URLs are left to the loader).
        model_what (str): What the model file is, as the message names it
            (e.g. ``'checkpoint'``, ``'--load-from checkpoint'``).
        pretrained (bool): Check the local pretrained backbone weights of
            ``cfg.model`` (training reads them).
        demo_data (bool): Generate the demo data sets ``cfg`` reads where
            they are missing (:func:`prepare_demo_data`).
        splits (Sequence[str]): Check the data folders or list files of
            these ``<split>_dataloader``s, e.g. ``('train', 'val')``;
            splits the config lacks are skipped.
        scope (bool): Set the default registry scope to
            ``cfg.default_scope`` (``'emanet'`` if unset), as the Runner
            does, for tools that build outside a Runner.
        demo_timeout (float): Seconds the local ranks other than 0 wait
            for the demo data.

    Returns:
        list: The demo data folders of ``cfg`` (empty without
        ``demo_data``).

    Raises:
        MissingCheckpointError: The model file or the pretrained weights
            cannot be read.
        DataRootError: A demo ``data_root`` holds something else.
        MissingDataError: A data folder or list file is missing, or
            another rank waited for the demo data in vain.
    """
    if model_file is not None:
        check_model_file(model_file, model_what)
    if pretrained:
        check_pretrained_file(cfg.model)
    roots = prepare_demo_data(cfg, demo_timeout) if demo_data else []
    if splits:
        check_data_folders(cfg, splits)
    if scope:
        init_default_scope(cfg.get('default_scope', 'emanet'))
    return roots
