"""tools/train.py --amp on a config that already trains in mixed precision:
a note, not a warning, unless --amp asks for another dtype."""
import pytest
from mmengine.config import Config

from emanet.apis.training import enable_amp

from helpers.tiny_demo import TOOLS_EXTRA, write_tiny_config
from helpers.tool_loader import load_tool

SGD = dict(type='SGD', lr=0.01)


def _enable(wrapper: dict, dtype: str, capsys) -> str:
    cfg = Config(dict(optim_wrapper=dict(wrapper, optimizer=SGD)))
    enable_amp(cfg, dtype)
    assert cfg.optim_wrapper.type == wrapper['type']  # left as configured
    return capsys.readouterr().out


@pytest.mark.parametrize('wrapper,dtype,have', [
    (dict(type='CPUAmpOptimWrapper'), 'auto', 'bfloat16'),
    (dict(type='CPUAmpOptimWrapper', dtype='bfloat16'), 'bf16', 'bfloat16'),
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), 'auto', 'bfloat16'),
    (dict(type='AmpOptimWrapper', dtype='bfloat16'), 'bf16', 'bfloat16'),
    (dict(type='AmpOptimWrapper'), 'fp16', 'float16'),
])
def test_amp_already_on_is_a_note(wrapper, dtype, have, capsys):
    out = _enable(wrapper, dtype, capsys)
    assert 'WARNING' not in out
    assert f"--amp: the config's {wrapper['type']} already trains in " \
        f'mixed precision ({have}).' in out


def test_amp_with_another_dtype_says_how_to_change_it(capsys):
    out = _enable(dict(type='AmpOptimWrapper', dtype='bfloat16'), 'fp16',
                  capsys)
    assert 'WARNING' in out
    assert "--amp fp16 not applied: the config's AmpOptimWrapper trains in " \
        'bfloat16; set optim_wrapper.dtype=float16 to change it.' in out


@pytest.mark.slow
def test_train_amp_on_bf16_config_prints_no_warning(demo_data_root, tmp_path,
                                                    capsys):
    config = write_tiny_config(
        tmp_path / 'tiny_bf16.py', demo_data_root, TOOLS_EXTRA +
        "\noptim_wrapper = dict(type='CPUAmpOptimWrapper', "
        "dtype='bfloat16')\n")
    load_tool('tools/train.py').main(
        [config, '--amp', '--work-dir', str(tmp_path / 'w'), '--seed', '0'])
    captured = capsys.readouterr()
    assert 'already trains in mixed precision (bfloat16)' in captured.out
    assert 'WARNING' not in captured.out + captured.err
