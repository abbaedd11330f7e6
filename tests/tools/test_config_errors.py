"""Config errors stop the tools before any work, naming file and key.

The checks themselves are tested in ``tests/config/``.
"""

import pytest

from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import load_tool


def _write(tmp_path, body):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = {DEMO_CONFIG!r}\n{body}\n')
    return str(path)


def test_unknown_key_fails_in_train_before_work(tmp_path):
    main = load_tool('tools/train.py').main
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
    main = load_tool('tools/test.py').main
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


def test_refused_override_stops_train_before_work(tmp_path):
    main = load_tool('tools/train.py').main
    work_dir = tmp_path / 'work'
    with pytest.raises(ConfigError, match='set optim_wrapper.optimizer.lr '
                       'instead'):
        main([DEMO_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
              'optimizer.lr=0.02'])
    assert not work_dir.exists()


def test_cfg_options_item_without_equals_is_named(capsys):
    main = load_tool('tools/train.py').main
    with pytest.raises(SystemExit) as exit_:
        main([DEMO_CONFIG, '--cfg-options', 'max_iters'])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("argument --cfg-options: 'max_iters' is not "
                        'KEY=VALUE (e.g. train_cfg.max_iters=800)')
