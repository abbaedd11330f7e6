"""build_split_dataset: a config's data set, as the Runner builds it."""
import pytest
from mmengine.config import Config

from emanet.datasets import CityscapesDemoDataset
from emanet.datasets.builder import build_split_dataset
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import write_tiny_config


def test_builds_the_split_with_its_pipeline(demo_data_root, tmp_path):
    cfg = Config.fromfile(write_tiny_config(tmp_path / 'c.py',
                                            demo_data_root))
    train = build_split_dataset(cfg, 'train')
    val = build_split_dataset(cfg, 'val')
    assert isinstance(train, CityscapesDemoDataset)
    assert (len(train), len(val)) == (4, 2)
    # the val pipeline resizes the 256x512 images to the tiny config's
    # 64x128; the train pipeline draws a random scale, so it is not used
    assert tuple(val[0]['inputs'].shape[-2:]) == (64, 128)
    assert val[0]['data_samples'].img_path.startswith(demo_data_root)


def test_missing_split_names_the_config(tmp_path):
    path = tmp_path / 'c.py'
    path.write_text('val_dataloader = dict(batch_size=1)\n')
    cfg = Config.fromfile(str(path))
    with pytest.raises(ConfigError) as err:
        build_split_dataset(cfg, 'val', '; choose another --split')
    assert str(err.value) == (f'{path} has no val_dataloader with a '
                              'dataset; choose another --split')
    with pytest.raises(ConfigError, match='has no test_dataloader with a '
                       'dataset$'):
        build_split_dataset(cfg, 'test')
