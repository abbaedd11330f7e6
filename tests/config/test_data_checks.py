"""Data loader and pipeline values refused with the rest of the config,
before anything is built."""
import pytest

from emanet.config import load_config
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG

TTA = 'tta_pipeline.1.transforms.0.0'  # the first Resize of TestTimeAug


@pytest.mark.parametrize('key, value, entry, message', [
    ('train_dataloader.batch_size', 0, 'train_dataloader',
     'batch_size=0, but a batch needs a whole number of samples, at least '
     '1'),
    ('val_dataloader.batch_size', -2, 'val_dataloader',
     'batch_size=-2, but a batch needs a whole number'),
    ('train_dataloader.num_workers', -1, 'train_dataloader',
     'num_workers=-1: use 0 (load in the main process) or more'),
    ('train_dataloader.dataset.pipeline.3.crop_size', (-128, 256),
     'train_dataloader.dataset.pipeline[3]',
     'crop_size=(-128, 256): sizes, scales and ratios must be positive '
     'numbers'),
    ('train_dataloader.dataset.pipeline.2.ratio_range', (0, 1.5),
     'train_dataloader.dataset.pipeline[2]', 'ratio_range=(0, 1.5): '),
    ('test_dataloader.dataset.pipeline.1.scale', (512, 0),
     'test_dataloader.dataset.pipeline[1]', 'scale=(512, 0): '),
    (f'{TTA}.scale_factor', -0.5, 'tta_pipeline[1].transforms[0][0]',
     'scale_factor=-0.5: '),
    # RandomResize(**resize_kwargs) passes them on to Resize
    ('train_dataloader.dataset.pipeline.2.crop_size', (64, 128),
     'train_dataloader.dataset.pipeline[2]',
     "unknown key 'crop_size' for RandomResize, which passes it on to "
     'Resize (mmcv.transforms.processing)'),
    ('train_dataloader.dataset.pipeline.2.keep_ratioo', True,
     'train_dataloader.dataset.pipeline[2]',
     "unknown key 'keep_ratioo' for RandomResize, which passes it on to "
     "Resize (mmcv.transforms.processing); did you mean 'keep_ratio'?"),
])
def test_bad_data_values_are_named_before_the_run(key, value, entry,
                                                  message):
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, {key: value})
    expected = f'{DEMO_CONFIG}: {entry}: {message}'
    assert any(line.startswith(expected)
               for line in str(err.value).splitlines()), str(err.value)


def test_arguments_resize_takes_pass_through_random_resize():
    cfg = load_config(DEMO_CONFIG, {
        'train_dataloader.dataset.pipeline.2.interpolation': 'nearest',
        'train_dataloader.dataset.pipeline.2.clip_object_border': False,
        'train_dataloader.batch_size': 1})
    assert cfg.train_dataloader.dataset.pipeline[2].interpolation == \
        'nearest'
