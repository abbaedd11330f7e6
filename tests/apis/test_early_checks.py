"""The cheap checks the tools run before they build anything.

How the tools use them: tests/tools/test_tool_errors.py.
"""
import os

import pytest
from mmengine.config import Config

from emanet.apis.early_checks import (
    check_data_folders,
    check_model_file,
    check_pretrained_file,
    pretrained_checkpoint,
)
from emanet.utils.errors import MissingCheckpointError, MissingDataError


def test_model_file_missing_folder_or_unreadable(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(MissingCheckpointError) as err:
        check_model_file(missing, '--load-from checkpoint')
    assert str(err.value) == (f'--load-from checkpoint {missing} does not '
                              'exist; check the path')
    assert isinstance(err.value, FileNotFoundError)  # as before
    with pytest.raises(MissingCheckpointError, match='is a folder'):
        check_model_file(str(tmp_path))
    readable = tmp_path / 'w.pth'
    readable.write_bytes(b'x')
    check_model_file(str(readable))
    check_model_file('open-mmlab://resnet50_v1c')  # left to the loader
    if os.geteuid() != 0:  # root reads everything
        readable.chmod(0)
        with pytest.raises(MissingCheckpointError, match='cannot be read'):
            check_model_file(str(readable))


@pytest.mark.parametrize('model,expected', [
    (dict(pretrained='a.pth', backbone=dict()), ('a.pth', 'model.pretrained')),
    (dict(backbone=dict(pretrained='b.pth')),
     ('b.pth', 'model.backbone.pretrained')),
    (dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='c'))),
     ('c', 'model.backbone.init_cfg')),
    (dict(pretrained=None, backbone=dict(init_cfg=None)), None),
])
def test_pretrained_checkpoint_of_each_config_form(model, expected):
    assert pretrained_checkpoint(model) == expected


def test_missing_local_pretrained_names_key_and_way_out(tmp_path):
    path = str(tmp_path / 'r50.pth')
    with pytest.raises(MissingCheckpointError) as err:
        check_pretrained_file(dict(pretrained=path))
    assert str(err.value) == (
        f'pretrained backbone weights (model.pretrained) {path} does not '
        'exist; point model.pretrained at the file, or train from scratch '
        'with --cfg-options model.pretrained=None')
    check_pretrained_file(dict(pretrained='open-mmlab://resnet50_v1c'))


def _config(dataset: dict) -> Config:
    return Config(dict(default_scope='emanet',
                       train_dataloader=dict(dataset=dataset)))


def test_data_folders_inside_wrappers_and_list_files(tmp_path,
                                                     demo_data_root):
    present = dict(type='CityscapesDataset', data_root=demo_data_root,
                   data_prefix=dict(img_path='leftImg8bit/train',
                                    seg_map_path='gtFine/train'))
    check_data_folders(_config(present), ['train', 'val'])  # val: absent
    missing = dict(present, data_root=str(tmp_path))
    wrapped = dict(type='ConcatDataset', datasets=[
        present, dict(type='RepeatDataset', times=2, dataset=missing)])
    with pytest.raises(MissingDataError, match=(
            f'image folder {tmp_path}/leftImg8bit/train does not exist')):
        check_data_folders(_config(wrapped), ['train'])
    listed = dict(present, ann_file=str(tmp_path / 'train.txt'))
    with pytest.raises(MissingDataError, match='ann_file .*train.txt does '
                       'not exist'):
        check_data_folders(_config(listed), ['train'])
