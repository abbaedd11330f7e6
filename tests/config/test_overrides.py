"""--cfg-options: refused where they would change nothing."""
import argparse

import pytest

from emanet.config import CfgOptionsAction, load_config, read_config
from emanet.config.overrides import check_cfg_options
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG


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
    with pytest.raises(ConfigError) as err:
        load_config(DEMO_CONFIG, {option: value})
    msg = str(err.value)
    top = option.split('.')[0]
    assert msg.startswith(f"--cfg-options {option}: nothing reads '{top}'")
    assert use in msg
    assert '\n' not in msg


def test_overrides_that_take_effect_and_new_key_typo():
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


def test_runner_keys_are_read_directly():
    """A Runner argument is read as it is, even if its value is copied."""
    cfg = read_config(DEMO_CONFIG)
    check_cfg_options(cfg, {'randomness.seed': 1, 'load_from': 'x.pth',
                            'new_key_nobody_reads': 1})


def test_cfg_options_action_names_an_item_without_equals(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = parser.parse_args(['--cfg-options', 'train_cfg.max_iters=8'])
    assert args.cfg_options == {'train_cfg.max_iters': 8}
    with pytest.raises(SystemExit):
        parser.parse_args(['--cfg-options', 'max_iters'])
    assert capsys.readouterr().err.strip().endswith(
        "'max_iters' is not KEY=VALUE (e.g. train_cfg.max_iters=800)")
