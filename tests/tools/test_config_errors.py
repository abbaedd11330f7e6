"""Config typos fail before any work, naming file, entry, class and key."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from emanet.utils.config_errors import check_config
from emanet.utils.errors import ConfigError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(
    REPO, 'configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py')


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(REPO, 'configs/emanet/*.py'))),
    ids=osp.basename)
def test_shipped_configs_pass(path):
    check_config(Config.fromfile(path))


def _write(tmp_path, body):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = {DEMO_CONFIG!r}\n{body}\n')
    return str(path)


def test_unknown_key_fails_in_train_before_work(tmp_path):
    from tools.train import main
    config = _write(tmp_path, 'model = dict(decode_head=dict(num_clases=5))')
    work_dir = tmp_path / 'work'
    with pytest.raises(ConfigError) as err:
        main([config, '--work-dir', str(work_dir)])
    msg = str(err.value)
    assert msg.startswith(f'{config}: model.decode_head: ')
    assert "unknown key 'num_clases' for EMAHead" in msg
    assert "did you mean 'num_classes'?" in msg
    assert not work_dir.exists()  # nothing was built or written


def test_unknown_type_fails_in_test_before_loading(tmp_path):
    from tools.test import main
    config = _write(
        tmp_path, "model = dict(auxiliary_head=dict(type='FCNHeat'))\n"
        "train_dataloader = dict(num_worker=2)")
    with pytest.raises(ConfigError) as err:
        # The checkpoint does not exist either: the config is checked first.
        main([config, str(tmp_path / 'none.pth'), '--work-dir',
              str(tmp_path / 'work')])
    lines = str(err.value).splitlines()
    assert lines[0] == (
        f"{config}: model.auxiliary_head: type='FCNHeat' is not a "
        "registered model type; did you mean 'FCNHead'?")
    assert lines[1] == (
        f"{config}: train_dataloader: unknown key 'num_worker' for "
        "DataLoader (torch.utils.data); did you mean 'num_workers'?")


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


# -- overrides that take effect or are refused ----------------------------
@pytest.mark.parametrize('option, value, use', [
    ('optimizer.lr', 0.02, 'optim_wrapper.optimizer.lr'),
    ('optimizer.lrr', 0.1, 'optim_wrapper.optimizer.lrr'),
    ('crop_size', (64, 64), 'model.data_preprocessor.size'),
    ('max_iters', 800, 'train_cfg.max_iters'),
    ('norm_cfg.type', 'GN', 'model.backbone.norm_cfg.type'),
    ('class_weight', None, 'model.decode_head.loss_decode.class_weight'),
    ('train_pipeline.3.crop_size', (64, 64),
     'train_dataloader.dataset.pipeline.3.crop_size'),
])
def test_override_of_a_parse_time_variable_is_refused(option, value, use):
    from emanet.apis import load_config
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, {option: value})
    msg = str(err.value)
    top = option.split('.')[0]
    assert msg.startswith(f"--cfg-options {option}: nothing reads '{top}'")
    assert use in msg
    assert '\n' not in msg


def test_refused_override_stops_train_before_work(tmp_path):
    from tools.train import main
    work_dir = tmp_path / 'work'
    with pytest.raises(ConfigError, match='set optim_wrapper.optimizer.lr '
                       'instead'):
        main([DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
              'optimizer.lr=0.02'])
    assert not work_dir.exists()


def test_overrides_that_take_effect_and_new_key_typo():
    from emanet.apis import load_config
    cfg = load_config(DEMO_CONFIG, {
        'optim_wrapper.optimizer.lr': 0.02,
        'model.data_preprocessor.size': (64, 64),
        'tta_model.type': 'SegTTAModel',  # read by tools/test.py --tta
    })
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.model.data_preprocessor.size == (64, 64)
    with pytest.raises(ConfigError, match="no key 'max_iter'; did you mean "
                       "'max_iters'"):
        load_config(DEMO_CONFIG, {'max_iter': 8})


def test_max_iters_override_carries_schedule_and_intervals(capsys):
    from emanet.apis import load_config
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 800})
    assert [s['end'] for s in cfg.param_scheduler] == [20, 800]
    assert cfg.train_cfg.val_interval == 800
    assert cfg.default_hooks.checkpoint.interval == 800
    out = capsys.readouterr().out
    assert ('train_cfg.max_iters 400 -> 800: param_scheduler.1.end, '
            'train_cfg.val_interval, default_hooks.checkpoint.interval '
            'equalled 400 and follow it') in out
    # An explicit value wins; a warm-up that now ends late is named.
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 10,
                                    'param_scheduler.1.begin': 5,
                                    'default_hooks.checkpoint.interval': 5})
    assert [s['end'] for s in cfg.param_scheduler] == [20, 10]
    assert cfg.default_hooks.checkpoint.interval == 5
    out = capsys.readouterr().out
    assert ('train_cfg.max_iters is 10 but param_scheduler.0.end = 20 '
            '(LinearLR) ends later') in out


def test_max_iters_before_a_scheduler_begins_is_refused():
    """PolyLR begins after the warm-up, at 20: max_iters=4 would end it
    before it begins (mmengine's ValueError, a traceback)."""
    from emanet.apis import load_config
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, {'train_cfg.max_iters': 4})
    assert str(err.value) == (
        'train_cfg.max_iters=4: param_scheduler.1 (PolyLR) would begin at '
        '20 and end at 4; set param_scheduler.1.begin below 4 (and the end '
        'of the scheduler before it), or a larger train_cfg.max_iters')
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 4,
                                    'param_scheduler.0.end': 2,
                                    'param_scheduler.1.begin': 2})
    assert [(s['begin'], s['end']) for s in cfg.param_scheduler] == [
        (0, 2), (2, 4)]


def test_fewer_outputs_than_data_set_classes_is_refused():
    from emanet.apis import load_config
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


def test_cfg_options_item_without_equals_is_named(capsys):
    from tools.train import main
    with pytest.raises(SystemExit) as exit_:
        main([DEMO_CONFIG, '--cfg-options', 'max_iters'])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("argument --cfg-options: 'max_iters' is not "
                        'KEY=VALUE (e.g. train_cfg.max_iters=800)')


# -- values of the wrong type ---------------------------------------------
def test_any_and_callable_annotations_take_any_value():
    """``typing.Any`` is a class from Python 3.11 on: not a type check."""
    import typing
    from collections.abc import Callable

    from emanet.utils.config_errors import _classes
    assert _classes(typing.Any) is None
    assert _classes(typing.Optional[typing.Any]) is None
    assert _classes(Callable) is None
    assert _classes(typing.Optional[int]) == (int, type(None))


def test_wrong_types_name_key_and_expected_type():
    from emanet.apis import load_config
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


# -- config files that do not run -----------------------------------------
def test_syntax_error_names_file_and_line(tmp_path):
    from emanet.apis import load_config
    base = tmp_path / 'base.py'
    base.write_text('a = 1\nb = dict(x=(1,\n')
    leaf = tmp_path / 'leaf.py'
    leaf.write_text("_base_ = './base.py'\nc = 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(leaf))
    assert str(err.value).startswith(
        f"{base}, line 2: syntax error ('(' was never closed): "
        'b = dict(x=(1,')
    bad_leaf = tmp_path / 'bad_leaf.py'
    bad_leaf.write_text(f'_base_ = {DEMO_CONFIG!r}\nx = [1 2]\n')
    with pytest.raises(ConfigError, match=f'{bad_leaf}, line 2: syntax '
                       'error'):
        load_config(str(bad_leaf))
    name_error = tmp_path / 'name_error.py'
    name_error.write_text('a = 1\nb = undefined_name\n')
    with pytest.raises(ConfigError, match=f"{name_error}, line 2: NameError: "
                       "name 'undefined_name' is not defined"):
        load_config(str(name_error))
    with pytest.raises(ConfigError, match='config file .*none.py does not '
                       'exist'):
        load_config(str(tmp_path / 'none.py'))
