"""tools/misc/print_config.py: the config train.py runs, saved to rerun."""
import pytest

from emanet.apis.training import SegTrainOptions, build_train_cfg
from emanet.config import load_config
from emanet.utils.errors import run_tool

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import load_tool

OPTIONS = ['train_cfg.max_iters=100', 'optim_wrapper.optimizer.lr=0.02']


def test_saved_config_is_the_run_train_py_would_do(tmp_path, capsys):
    saved = tmp_path / 'saved.py'
    cfg = load_tool('tools/misc/print_config.py').main(
        [DEMO_CONFIG, '--cfg-options', *OPTIONS, '--save-path', str(saved)])
    out = capsys.readouterr().out
    assert 'train_cfg.max_iters 400 -> 100' in out  # the INFO line
    assert '\nConfig:\n' in out
    assert f'config saved to {saved}' in out
    # The max_iters follow-up: the poly schedule and the checkpoint
    # interval that ended at 400 now end at 100.
    assert cfg.train_cfg.max_iters == 100
    assert cfg.param_scheduler[1].end == 100
    assert cfg.default_hooks.checkpoint.interval == 100
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert 'train_cfg.max_iters=100' in saved.read_text().splitlines()[2]

    # Read back: the same config, no overrides needed.
    assert load_config(str(saved)).to_dict() == cfg.to_dict()
    # And tools/train.py sets up the same run from either.
    parse = load_tool('tools/train.py').parse_args
    work = str(tmp_path / 'work')
    from_saved = build_train_cfg(SegTrainOptions.from_args(
        parse([str(saved), '--work-dir', work])))
    from_options = build_train_cfg(SegTrainOptions.from_args(
        parse([DEMO_CONFIG, '--cfg-options', *OPTIONS, '--work-dir', work])))
    assert from_saved.to_dict() == from_options.to_dict()


def test_default_work_dir_stays_the_original_configs(tmp_path, capsys):
    saved = tmp_path / 'other_name.py'
    load_tool('tools/misc/print_config.py').main(
        [DEMO_CONFIG, '--save-path', str(saved)])
    assert load_config(str(saved)).work_dir == (
        './work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512')


@pytest.mark.parametrize('argv, message', [
    (['--cfg-options', 'optimizer.lr=0.02'],
     "error: --cfg-options optimizer.lr: nothing reads 'optimizer' after "
     'the config file has run (its value was copied into '
     'optim_wrapper.optimizer); set optim_wrapper.optimizer.lr instead'),
    (['--save-path', 'cfg.json'],
     'error: --save-path cfg.json: write the config to a .py file (the '
     'format tools/train.py reads back unchanged)'),
    (['--save-path', '/no/such/folder/cfg.py'],
     'error: --save-path /no/such/folder/cfg.py: folder /no/such/folder '
     'does not exist'),
])
def test_bad_input_is_one_error_line(argv, message, capsys):
    tool = load_tool('tools/misc/print_config.py')
    assert run_tool(tool.main, [DEMO_CONFIG, *argv]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == message


def test_missing_config_is_one_error_line(tmp_path, capsys):
    tool = load_tool('tools/misc/print_config.py')
    missing = str(tmp_path / 'none.py')
    assert run_tool(tool.main, [missing]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'error: config file {missing} does not exist')


@pytest.mark.parametrize('hooks', [
    "custom_hooks=[dict(type='EarlyStoppingHook',monitor='mIoU')]",
    "custom_hooks=[{'type':'EarlyStoppingHook','monitor':'mIoU'}]",
])
def test_hooks_given_as_dicts_reach_the_config(hooks, tmp_path, capsys):
    """As mmsegmentation's users add hooks: print_config.py shows and
    train.py sets up the very dicts given."""
    expected = [dict(type='EarlyStoppingHook', monitor='mIoU')]
    cfg = load_tool('tools/misc/print_config.py').main(
        [DEMO_CONFIG, '--cfg-options', hooks])
    assert cfg.custom_hooks == expected
    assert "dict(monitor='mIoU', type='EarlyStoppingHook')" in \
        capsys.readouterr().out
    parse = load_tool('tools/train.py').parse_args
    train_cfg = build_train_cfg(SegTrainOptions.from_args(parse(
        [DEMO_CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
         hooks])))
    assert train_cfg.custom_hooks == expected
