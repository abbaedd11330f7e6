"""A seconds-long variant of the demo config for the tool tests.

ResNetV1c-18 with 8 base channels, 64x128 crops of the demo data, 4
iterations with validation every 2, no data loader workers.
"""
import os.path as osp
from typing import NamedTuple

from helpers.tool_loader import REPO

DEMO_CONFIG = osp.join(
    REPO, 'configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py')

# --cfg-options of a narrower demo model: the benchmark tests' steps;
# each stays well under a second on 2 cores.
SMALL = ['--cfg-options', 'model.backbone.base_channels=16',
         'model.backbone.stem_channels=16',
         'model.decode_head.in_channels=128',
         'model.decode_head.channels=32',
         'model.decode_head.ema_channels=32',
         'model.auxiliary_head.in_channels=64',
         'model.auxiliary_head.channels=16']


def demo_data_root_options(data_root) -> list:
    """``--cfg-options`` values (after ``SMALL``'s or another
    ``--cfg-options``) that point every data loader of ``DEMO_CONFIG`` at
    ``data_root``: the tools generate the demo data where the config says,
    and its ``data/cityscapes_demo/`` is relative to the checkout."""
    return [f'{loader}.dataset.data_root={data_root}'
            for loader in ('train_dataloader', 'val_dataloader',
                           'test_dataloader')]


# Two validations would cost time: train 2 iterations, validate once. Two
# views (one scale, flip off/on) keep --aug-test fast.
TOOLS_EXTRA = '''
train_cfg = dict(max_iters=2, val_interval=2)
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(128, 64), keep_ratio=True)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')],
    ]),
]
'''

TINY = '''
_base_ = {base!r}
data_root = {root!r}
crop_size = (64, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(stem_channels=8, base_channels=8),
    decode_head=dict(in_channels=64, channels=16, ema_channels=16,
                     num_bases=8),
    auxiliary_head=dict(in_channels=32, channels=8))
train_cfg = dict(max_iters=4, val_interval=2)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2),
    visualization=dict(draw=False))
log_processor = dict(window_size=1)
'''


def write_tiny_config(path, data_root, extra: str = '') -> str:
    """Write the tiny config (plus ``extra`` lines) to ``path``.

    Args:
        path: file to write.
        data_root: the demo data set to train and test on.
        extra: config lines appended after the tiny settings (later
            assignments replace earlier ones).

    Returns:
        str: ``path``.
    """
    path = str(path)
    with open(path, 'w') as f:
        f.write(TINY.format(base=DEMO_CONFIG, root=str(data_root)) + extra)
    return path


def scores(metrics: dict) -> dict:
    """Logged values without the timings, which differ between runs."""
    return {k: v for k, v in metrics.items() if k not in ('time', 'data_time')}


class TinyRun(NamedTuple):
    """A finished ``tools/train.py`` run of the tiny config."""
    config: str  # the config file trained
    work_dir: str  # its work dir: checkpoint, config dump, logs
    checkpoint: str  # the last checkpoint (iteration 2)
    metrics: dict  # what ``main`` returned: the final validation's
