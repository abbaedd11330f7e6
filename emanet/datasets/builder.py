"""Build the data set of one of a config's data loaders."""
from mmengine.config import Config
from mmengine.registry import init_default_scope

from emanet.registry import DATASETS
from emanet.utils.errors import ConfigError


def build_split_dataset(cfg: Config, split: str, advice: str = ''):
    """The data set of ``<split>_dataloader``, as the Runner builds it.

    Args:
        cfg (Config): The full config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        advice (str): Appended to the message when the config has no such
            data set (e.g. ``'; choose another --split'``).

    Raises:
        ConfigError: The config has no ``<split>_dataloader`` with a
            ``dataset``.
    """
    dataloader = cfg.get(f'{split}_dataloader')
    if not dataloader or 'dataset' not in dataloader:
        raise ConfigError(f'{cfg.filename} has no {split}_dataloader with a '
                          f'dataset{advice}')
    init_default_scope(cfg.get('default_scope', 'emanet'))
    return DATASETS.build(dataloader.dataset)
