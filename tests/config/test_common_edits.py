"""Common edits of a config, each a leaf file of a few lines.

Every row of :data:`TRAINS` is a leaf config on the tiny demo config
(``tests/helpers/tiny_demo.py``: 8 base channels, 64x128 crops) that trains 2
iterations with the shapes the edit means: the batches the model receives
have the intended crop size and the backbone gives the intended channels.
Every row of :data:`STOPS` is a leaf config on a shipped config that must
stop while loading, before anything is built, with one line that names
what to add. The two edits of the first rows run through
``tools/train.py`` too: one ``error:`` line, no environment dump.
"""
import os.path as osp
from typing import Callable, NamedTuple, Optional, Tuple

import pytest
import torch

from emanet.apis.utils import build_runner
from emanet.config import load_config
from emanet.utils.errors import ConfigError, run_tool

from helpers.tiny_demo import DEMO_CONFIG, write_tiny_config
from helpers.tool_loader import REPO, load_tool

CONFIGS = osp.join(REPO, 'configs', 'emanet')
R50 = osp.join(CONFIGS, 'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
R50_769 = osp.join(CONFIGS, 'emanet_r50-d8_4xb2-80k_cityscapes-769x769.py')

# The tiny config's training pipeline with a crop size of the leaf's (one
# image a batch keeps the large crops fast).
CROP = '''
crop_size = {crop}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
'''
HEADS_256 = ('decode_head=dict(in_channels=256), '
             'auxiliary_head=dict(in_channels=128)')
FIVE = "('road', 'sidewalk', 'building', 'wall', 'fence')"
# A tiny base that still has mmsegmentation's SyncBN everywhere.
SYNC_BN = '''
norm_cfg = dict(type='SyncBN', requires_grad=True)
model['backbone']['norm_cfg'] = norm_cfg
model['decode_head']['norm_cfg'] = norm_cfg
model['auxiliary_head']['norm_cfg'] = norm_cfg
'''
BN = '''
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(backbone=dict(norm_cfg=norm_cfg),
             decode_head=dict(norm_cfg=norm_cfg),
             auxiliary_head=dict(norm_cfg=norm_cfg))
'''
# 2 iterations, no validation, no checkpoint: the shapes are the test.
RUN = '''
train_cfg = dict(max_iters=2, val_interval=100)
val_cfg = val_dataloader = val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=100), logger=dict(interval=1))
'''


class Trains(NamedTuple):
    leaf: str  # the leaf file's lines after _base_
    crop: Tuple[int, int]  # of the batches the model receives
    channels: Tuple[int, ...]  # of the backbone's outputs
    base_extra: str = ''  # lines added to the tiny base file
    check: Optional[Callable] = None  # more asserts on the model
    batch: int = 2


def _no_sync_bn(model):
    assert not any(isinstance(m, torch.nn.SyncBatchNorm)
                   for m in model.modules())
    assert type(model.backbone.stem[1]) is torch.nn.BatchNorm2d


def _ema(model):
    assert model.decode_head.ema_module.bases.shape[-1] == 4
    assert model.decode_head.ema_module.num_stages == 2


def _five_classes(model):
    assert model.decode_head.conv_seg.out_channels == 5
    assert model.auxiliary_head.conv_seg.out_channels == 5


def _output_stride_16(model, outs):
    assert outs[-1].shape[-2:] == (64 // 16, 128 // 16)


TINY = (8, 16, 32, 64)
WIDE = (32, 64, 128, 256)
TRAINS = {
    'depth 18': Trains('model = dict(backbone=dict(depth=18))',
                       (64, 128), TINY),
    'depth 34': Trains('model = dict(backbone=dict(depth=34))',
                       (64, 128), TINY),
    'depth 50 and heads': Trains(
        f'model = dict(backbone=dict(depth=50), {HEADS_256})',
        (64, 128), WIDE),
    'depth 101 and heads': Trains(
        f'model = dict(backbone=dict(depth=101), {HEADS_256})',
        (64, 128), WIDE),
    'depth 152 and heads': Trains(
        f'model = dict(backbone=dict(depth=152), {HEADS_256})',
        (64, 128), WIDE),
    'V1d': Trains("model = dict(backbone=dict(type='ResNetV1d'))",
                  (64, 128), TINY),
    'crop 769x769': Trains(CROP.format(crop=(769, 769)), (769, 769), TINY,
                              batch=1),
    'crop 512x512': Trains(CROP.format(crop=(512, 512)), (512, 512), TINY,
                              batch=1),
    'crop 256x512': Trains(CROP.format(crop=(256, 512)), (256, 512), TINY,
                              batch=1),
    '5-class data set': Trains(
        f'classes = {FIVE}\n'
        'train_dataloader = dict(dataset=dict(metainfo=dict('
        'classes=classes)))\n'
        'loss = dict(class_weight=None)\n'
        'model = dict(decode_head=dict(num_classes=5, loss_decode=loss),\n'
        '             auxiliary_head=dict(num_classes=5, loss_decode=loss))',
        (64, 128), TINY, check=_five_classes),
    'norm_cfg BN instead of SyncBN': Trains(
        BN, (64, 128), TINY, SYNC_BN,
        _no_sync_bn),
    'EMA bases and stages': Trains(
        'model = dict(decode_head=dict(num_bases=4, num_stages=2))',
        (64, 128), TINY, check=_ema),
    'output stride 16': Trains(
        'model = dict(backbone=dict(strides=(1, 2, 2, 1), '
        'dilations=(1, 1, 1, 2)))', (64, 128), TINY,
        check=_output_stride_16),
}

# (base, leaf, what the one line names)
STOPS = {
    'crop 64x128 on the demo': (DEMO_CONFIG, 'crop_size = (64, 128)', [
        'crop_size = (64, 128) does not reach model.data_preprocessor.size, '
        'train_dataloader.dataset.pipeline.3.crop_size, which still hold '
        '(128, 256)',
        'model = dict(data_preprocessor=dict(size=crop_size))',
        'train_dataloader = dict(dataset=dict(pipeline=train_pipeline))']),
    'depth 50 on the R-18 demo': (
        DEMO_CONFIG, 'model = dict(backbone=dict(depth=50))', [
            'model: the heads\' in_channels do not match model.backbone '
            '(ResNetV1c depth=50 gives (256, 512, 1024, 2048) channels); '
            'set model.decode_head.in_channels=2048, '
            'model.auxiliary_head.in_channels=1024']),
    'crop 256x512 with data_preprocessor': (
        R50,
        'crop_size = (256, 512)\ndata_preprocessor = dict(size=crop_size)',
        ['does not reach model.data_preprocessor.size, '
         'train_dataloader.dataset.pipeline.3.crop_size, which still hold '
         '(512, 1024)']),
    'crop 769x769 alone': (
        R50, 'crop_size = (769, 769)', ['crop_size = (769, 769) does not '
                                        'reach']),
    'crop 512x512 on the 769x769 config': (
        R50_769, 'crop_size = (512, 512)',
        ['model.test_cfg.crop_size', 'test_cfg=dict(crop_size=crop_size)']),
    'depth 18 with its weights': (
        R50, "model = dict(pretrained='open-mmlab://resnet18_v1c', "
        'backbone=dict(depth=18))',
        ['set model.decode_head.in_channels=512, '
         'model.auxiliary_head.in_channels=256']),
    'norm_cfg BN alone': (
        R50, "norm_cfg = dict(type='BN', requires_grad=True)",
        ['does not reach model.backbone.norm_cfg, model.decode_head.'
         'norm_cfg, model.auxiliary_head.norm_cfg',
         'model = dict(backbone=dict(norm_cfg=norm_cfg), decode_head=dict('
         'norm_cfg=norm_cfg), auxiliary_head=dict(norm_cfg=norm_cfg))']),
    'num_classes variable': (
        R50, 'num_classes = 5', [
            'num_classes = 5 is used by nothing',
            'model.decode_head.num_classes, model.auxiliary_head.num_classes '
            'hold 19']),
    '5 classes in the heads only': (
        R50, 'model = dict(decode_head=dict(num_classes=5))',
        ['model.decode_head: num_classes=5, but the train_dataloader data '
         'set (CityscapesDataset) has 19 classes']),
    'in_index past out_indices': (
        R50, 'model = dict(backbone=dict(out_indices=(0, 1, 2)))',
        ['model.decode_head: in_index=3, but model.backbone gives 3 feature '
         'maps']),
    'max_iters on the demo': (
        DEMO_CONFIG, 'max_iters = 800', [
            'param_scheduler.1.end, train_cfg.max_iters, '
            'train_cfg.val_interval, default_hooks.checkpoint.interval',
            'param_scheduler = the base\'s list with end=max_iters in its '
            'PolyLR (item 1)']),
}

# Published weights of another backbone type or depth load with warnings
# only, leaving layers random, as in mmsegmentation: the run goes on, with
# one WARNING line up front naming the weights to use.
WARNS = {
    'depth 101 with R-50 weights': (
        R50, 'model = dict(backbone=dict(depth=101))',
        ["model.pretrained: 'open-mmlab://resnet50_v1c' holds ResNetV1c-50 "
         'weights, but model.backbone is ResNetV1c depth=101',
         "set model.pretrained='open-mmlab://resnet101_v1c'"]),
    'V1d with V1c weights': (
        R50, "model = dict(backbone=dict(type='ResNetV1d'))",
        ["set model.pretrained='mmcls://resnet50_v1d'"]),
    'depth 152 V1c': (
        R50, "model = dict(backbone=dict(depth=152))",
        ['no weights of ResNetV1c-152 are published']),
}


def _leaf(tmp_path, base: str, body: str) -> str:
    path = tmp_path / 'leaf.py'
    path.write_text(f'_base_ = {base!r}\n{body}\n')
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize('name', list(TRAINS))
def test_edit_trains_with_the_intended_shapes(name, demo_data_root,
                                              tmp_path):
    row = TRAINS[name]
    base = write_tiny_config(tmp_path / 'tiny.py', demo_data_root,
                             row.base_extra + RUN)
    cfg = load_config(_leaf(tmp_path, base, row.leaf),
                      work_dir=str(tmp_path / 'work'))
    runner = build_runner(cfg)
    model = runner.model
    inputs, outs = [], []
    model.register_forward_pre_hook(
        lambda m, args, kwargs: inputs.append(
            (kwargs['mode'], tuple(kwargs['inputs'].shape))),
        with_kwargs=True)
    model.backbone.register_forward_hook(
        lambda m, args, out: outs.append(out))
    runner.train()
    assert runner.iter == 2 and len(inputs) == 2
    assert inputs == [('loss', (row.batch, 3, *row.crop))] * 2
    assert tuple(o.shape[1] for o in outs[-1]) == row.channels
    if row.check is _output_stride_16:
        row.check(model, outs[-1])
    elif row.check is not None:
        row.check(model)


@pytest.mark.parametrize('name', list(STOPS))
def test_edit_stops_with_one_line(name, tmp_path):
    base, body, names = STOPS[name]
    leaf = _leaf(tmp_path, base, body)
    with pytest.raises(ConfigError) as err:
        load_config(leaf, work_dir=str(tmp_path / 'work'))
    message = str(err.value)
    assert '\n' not in message and message.startswith(leaf + ': ')
    for words in names:
        assert words in message
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize('name', list(WARNS))
def test_weights_of_another_backbone_warn_and_load(name, tmp_path, capsys):
    base, body, names = WARNS[name]
    leaf = _leaf(tmp_path, base, body)
    load_config(leaf, work_dir=str(tmp_path / 'work'))
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines()
             if 'WARNING' in line and 'load with warnings only' in line]
    assert len(lines) == 1
    for words in names:
        assert words in lines[0]


@pytest.mark.parametrize('name', ['crop 64x128 on the demo',
                                  'depth 50 on the R-18 demo'])
def test_train_stops_before_the_environment_dump(name, tmp_path,
                                                 monkeypatch, capsys):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    base, body, names = STOPS[name]
    leaf = _leaf(tmp_path, base, body)
    status = run_tool(load_tool('tools/train.py').main,
                      [leaf, '--work-dir', str(tmp_path / 'work')])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert status == 1
    errors = [line for line in text.splitlines() if line.startswith('error:')]
    assert errors == [captured.err.splitlines()[-1]]
    assert errors[0].startswith(f'error: {leaf}: ') and names[0] in errors[0]
    assert 'System environment' not in text and 'Traceback' not in text
    assert not (tmp_path / 'work').exists()


def test_every_shipped_config_passes_the_leaf_check():
    """Shipped leaf files restate what their bases copied."""
    import glob
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                 recursive=True)):
        load_config(path)
