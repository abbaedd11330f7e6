"""check_config: typos and wrong values named before anything is built."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from emanet.config import check_config, load_config
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(REPO, 'configs/emanet/*.py'))),
    ids=osp.basename)
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(path))


def _write(tmp_path, body):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = {DEMO_CONFIG!r}\n{body}\n')
    return str(path)


def test_nested_and_optimizer_typos(tmp_path):
    cfg = Config.fromfile(_write(
        tmp_path, "optim_wrapper = dict(optimizer=dict(lrr=0.1))\n"
        "val_evaluator = dict(iou_metric=['mIoU'])\n"
        "default_hooks = dict(logger=dict(intervall=5))"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert "optim_wrapper.optimizer: unknown key 'lrr' for SGD" in msg
    assert "val_evaluator: unknown key 'iou_metric' for IoUMetric" in msg
    assert "default_hooks.logger: unknown key 'intervall' for LoggerHook" \
        in msg


def test_entries_are_checked_against_the_registry_that_builds_them(
        tmp_path):
    """Hooks, schedulers, samplers, loops and visualizer backends."""
    cfg = Config.fromfile(_write(
        tmp_path, "custom_hooks = [dict(type='EmptyCacheHok')]\n"
        "param_scheduler = [dict(type='PolyLR', begin=0, end=10, "
        "by_epoch=False, powr=1.0)]\n"
        "train_dataloader = dict(sampler=dict(type='InfiniteSampler', "
        "shufle=True))\n"
        "val_cfg = dict(type='ValLop')\n"
        "visualizer = dict(vis_backends=[dict(type='LocalVisBackend', "
        "save_dirr='x')])"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    lines = [line.split(': ', 1)[1] for line in str(err.value).splitlines()]
    assert ("custom_hooks[0]: type='EmptyCacheHok' is not a registered hook "
            "type; did you mean 'EmptyCacheHook'?") in lines
    assert any(line.startswith("param_scheduler[0]: unknown key 'powr' for "
                               'PolyLR') for line in lines)
    assert any(line.startswith("train_dataloader.sampler: unknown key "
                               "'shufle' for InfiniteSampler")
               for line in lines)
    assert any(line.startswith("val_cfg: type='ValLop' is not a registered "
                               'loop type') for line in lines)
    assert any(line.startswith("visualizer.vis_backends[0]: unknown key "
                               "'save_dirr' for LocalVisBackend")
               for line in lines)


def test_fewer_outputs_than_data_set_classes_is_refused():
    no_weights = {f'model.{head}.{key}': value
                  for head in ('decode_head', 'auxiliary_head')
                  for key, value in (('num_classes', 5),
                                     ('loss_decode.class_weight', None))}
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, no_weights)
    lines = str(err.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(DEMO_CONFIG)
                                   for line in lines)
    assert lines[0].endswith(
        'model.decode_head: num_classes=5, but the train_dataloader data set '
        '(CityscapesDemoDataset) has 19 classes; set num_classes=19, or give '
        'the data set metainfo=dict(classes=...) with 5 classes')
    classes = [f'c{i}' for i in range(5)]
    cfg = load_config(DEMO_CONFIG, {
        **no_weights,
        'train_dataloader.dataset.metainfo': dict(classes=classes)})
    assert cfg.model.decode_head.num_classes == 5


def test_wrong_types_name_key_and_expected_type():
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, {
            'model.decode_head.num_bases': 'abc',
            'optim_wrapper.optimizer.lr': 'abc',
            'model.decode_head.num_classes': 5,
            'model.auxiliary_head.loss_decode': 0,
            'train_dataloader.batch_size': 'x',
        })
    lines = [line.split(': ', 1)[1] for line in str(err.value).splitlines()]
    assert lines == [
        'model.decode_head.loss_decode.class_weight: 19 weights for '
        'num_classes=5; give one weight per class (or class_weight=None)',
        "model.decode_head: num_bases='abc' (str), but EMAHead "
        '(emanet.models.decode_heads.ema_head) expects int',
        'model.auxiliary_head: loss_decode=0 (int), but FCNHead '
        '(emanet.models.decode_heads.fcn_head) expects dict or Sequence or '
        'None',
        "train_dataloader: batch_size='x' (str), but DataLoader "
        '(torch.utils.data) expects int or None',
        "optim_wrapper.optimizer: lr='abc' (str), but SGD (torch.optim.sgd) "
        'expects float or Tensor',
        'model.decode_head: num_classes=5, but the train_dataloader data set '
        '(CityscapesDemoDataset) has 19 classes; set num_classes=19, or give '
        'the data set metainfo=dict(classes=...) with 5 classes',
    ]


def test_scheduler_that_ends_before_it_begins_is_refused(tmp_path):
    """mmengine would raise a ValueError only when training starts."""
    cfg = Config.fromfile(_write(
        tmp_path, "param_scheduler = [dict(type='LinearLR', begin=10, "
        'end=10, by_epoch=False)]'))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value) == (
        f'{cfg.filename}: param_scheduler[0]: begin=10 and end=10 '
        '(LinearLR): a scheduler has to end after it begins; set '
        'param_scheduler.0.end above 10 or param_scheduler.0.begin below 10')
    check_config(cfg, skip=('param_scheduler', ))


def test_static_loss_scale_of_mmsegmentation_configs_passes():
    """AmpOptimWrapper annotates ``loss_scale: str`` but takes numbers and
    dicts too; mmsegmentation's configs give ``loss_scale=512.``."""
    for scale in (512., 512, 'dynamic', dict(init_scale=256.)):
        cfg = load_config(DEMO_CONFIG, {
            'optim_wrapper': dict(type='AmpOptimWrapper', _delete_=True,
                                  loss_scale=scale,
                                  optimizer=dict(type='SGD', lr=0.01))})
        assert cfg.optim_wrapper.loss_scale == scale
    with pytest.raises(ConfigError, match=r"loss_scale=\[512\] \(list\)"):
        load_config(DEMO_CONFIG, {'optim_wrapper': dict(
            type='AmpOptimWrapper', _delete_=True, loss_scale=[512],
            optimizer=dict(type='SGD', lr=0.01))})
