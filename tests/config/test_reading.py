"""Reading config files; load_config's work dir."""
import os.path as osp

import pytest

from emanet.config import load_config, read_config, work_dir_source
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG


def test_syntax_error_names_file_and_line(tmp_path):
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


def test_read_config_reads():
    cfg = read_config(DEMO_CONFIG)
    assert cfg.train_cfg.max_iters == 400 and cfg.filename == DEMO_CONFIG


def test_work_dir_and_what_set_it(tmp_path):
    name = osp.splitext(osp.basename(DEMO_CONFIG))[0]
    cfg = load_config(DEMO_CONFIG)
    assert cfg.work_dir == osp.join('./work_dirs', name)
    assert work_dir_source(cfg, DEMO_CONFIG, None) == (
        'default (work_dirs/<config name>)')
    cfg = load_config(DEMO_CONFIG, work_dir=str(tmp_path))
    assert cfg.work_dir == str(tmp_path)
    assert work_dir_source(cfg, DEMO_CONFIG, str(tmp_path)) == '--work-dir'
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f"_base_ = {DEMO_CONFIG!r}\nwork_dir = 'elsewhere'\n")
    cfg = load_config(str(leaf))
    assert cfg.work_dir == 'elsewhere'
    assert work_dir_source(cfg, str(leaf), None) == f'work_dir in {leaf}'
