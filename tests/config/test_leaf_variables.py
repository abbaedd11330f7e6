"""Leaf-file variables: what counts as set, as used, and what is named."""
import ast

import pytest
from mmengine.config import Config

from emanet.config import load_config
from emanet.config.leaf_variables import (
    WHOLE,
    base_files,
    leaf_variable_errors,
    own_entries,
)

from helpers.tiny_demo import DEMO_CONFIG


def _leaf(tmp_path, body: str, base: str = DEMO_CONFIG) -> Config:
    path = tmp_path / 'leaf.py'
    path.write_text(f'_base_ = {base!r}\n{body}\n')
    return Config.fromfile(str(path))


def test_own_entries_follow_dicts_and_dict_variables():
    tree = ast.parse(
        "_base_ = ['a.py', 'b.py']\n"
        'size = (1, 2)\n'
        'pre = dict(size=size)\n'
        "model = dict(data_preprocessor=pre, backbone={'depth': 18},\n"
        '             decode_head=dict(**pre))\n'
        "model['auxiliary_head']['in_channels'] = 3\n")
    assert base_files(tree) == ['a.py', 'b.py']
    assert own_entries(tree) == {'size': WHOLE, 'pre': {'size': WHOLE},
                                 'model': WHOLE}
    tree = ast.parse('model = dict(data_preprocessor=pre, test_cfg=[1])\n')
    assert own_entries(tree) == {
        'model': {'data_preprocessor': WHOLE, 'test_cfg': WHOLE}}


def test_restated_entries_pass_even_at_the_base_value(tmp_path):
    """An entry the leaf sets, to any value, says what the user means."""
    cfg = _leaf(tmp_path, 'max_iters = 800\n'
                'train_cfg = dict(max_iters=max_iters, val_interval=400)\n'
                "param_scheduler = [dict(type='PolyLR', end=max_iters)]\n"
                'default_hooks = dict(checkpoint=dict(interval=400))')
    assert leaf_variable_errors(cfg) == []


def test_cfg_options_set_what_they_name(tmp_path):
    cfg = _leaf(tmp_path, "data_root = 'elsewhere/'")
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    [line] = leaf_variable_errors(cfg, [f'{k}.dataset.data_root'
                                        for k in loaders[:2]])
    assert "does not reach test_dataloader.dataset.data_root, which" in line
    assert leaf_variable_errors(
        cfg, [f'{k}.dataset' for k in loaders]) == []


def test_one_line_per_variable_with_the_lines_to_add(tmp_path):
    cfg = _leaf(tmp_path, "norm_cfg = dict(type='GN', num_groups=2)\n"
                "optimizer = dict(lr=0.1)")
    lines = leaf_variable_errors(cfg)
    assert len(lines) == 2 and all(
        line.startswith(cfg.filename + ': ') for line in lines)
    assert lines[0].endswith(
        'add to leaf.py: model = dict(backbone=dict(norm_cfg=norm_cfg), '
        'decode_head=dict(norm_cfg=norm_cfg), '
        'auxiliary_head=dict(norm_cfg=norm_cfg))')
    assert lines[1].endswith(
        'add to leaf.py: optim_wrapper = dict(optimizer=optimizer)')


def test_used_new_variable_and_file_without_base_pass(tmp_path):
    cfg = _leaf(tmp_path, "dataset = dict(type='CityscapesDemoDataset')\n"
                'train_dataloader = dict(dataset=dataset)')
    assert leaf_variable_errors(cfg) == []
    plain = tmp_path / 'plain.py'
    plain.write_text('crop_size = (1, 2)\nnum_classes = 3\n')
    assert leaf_variable_errors(Config.fromfile(str(plain))) == []


def test_load_config_names_the_file_and_creates_nothing(tmp_path):
    path = tmp_path / 'leaf.py'
    path.write_text(f'_base_ = {DEMO_CONFIG!r}\ncrop_size = (64, 64)\n')
    with pytest.raises(Exception) as err:
        load_config(str(path), work_dir=str(tmp_path / 'work'))
    assert str(err.value).startswith(f'{path}: crop_size = (64, 64) does '
                                     'not reach model.data_preprocessor.size')
    assert not (tmp_path / 'work').exists()
