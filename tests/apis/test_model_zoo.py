"""Models by name: the metafile's rows, the weights' cache, and one line
when they cannot be downloaded."""
import os
import urllib.error

import pytest
import torch
import yaml

from emanet.apis import MMSegInferencer, init_model, list_models
from emanet.apis.model_zoo import (
    cached_weights_path,
    fetch_weights,
    find_model,
)
from emanet.utils.errors import MissingCheckpointError, UserError

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO

R50 = 'emanet_r50-d8_4xb2-80k_cityscapes-512x1024'
DEMO = 'emanet_r18-d8_1xb4-400_cityscapes-demo-256x512'
# mmsegmentation's published numbers of its released checkpoints
PUBLISHED = {
    R50: (77.59, 79.44, 'c43fcef1'),
    'emanet_r101-d8_4xb2-80k_cityscapes-512x1024': (79.1, 81.21,
                                                   '2d970745'),
    'emanet_r50-d8_4xb2-80k_cityscapes-769x769': (79.33, 80.49,
                                                 '16f8de52'),
    'emanet_r101-d8_4xb2-80k_cityscapes-769x769': (79.62, 81.0,
                                                  '47a324ce'),
}


def test_metafile_rows_are_mmsegmentations_with_the_demo():
    assert list_models() == [*PUBLISHED, DEMO]
    assert list_models('r101') == [n for n in PUBLISHED if 'r101' in n]
    with open(os.path.join(REPO, 'configs/emanet/metafile.yaml')) as f:
        rows = {r['Name']: r for r in yaml.safe_load(f)['Models']}
    for name, (miou, ms_flip, sha) in PUBLISHED.items():
        row = rows[name]
        assert row['Results']['Metrics'] == {'mIoU': miou,
                                             'mIoU(ms+flip)': ms_flip}
        assert row['Weights'].startswith('https://download.openmmlab.com/')
        assert row['Weights'].endswith(f'-{sha}.pth')
        assert os.path.isfile(find_model(name).config)
        assert row['Metadata']['Training Data'] == 'Cityscapes'


def test_names_are_found_case_blind_and_by_alias():
    assert find_model(R50.upper()).name == R50
    assert find_model('e' + R50).name == R50  # mmsegmentation's spelling
    with pytest.raises(UserError, match=f'did you mean {R50}'):
        find_model(R50.replace('r50', 'r05'))


def test_offline_download_is_one_line_with_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def offline(url, dst, **kwargs):
        raise urllib.error.URLError('[Errno -3] name resolution failed')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    entry = find_model(R50)
    with pytest.raises(MissingCheckpointError) as err:
        MMSegInferencer(R50)
    message = str(err.value)
    assert '\n' not in message
    assert entry.weights in message and 'weights=PATH' in message
    assert cached_weights_path(entry.weights) in message
    # a file already in the cache is used, not downloaded
    target = cached_weights_path(entry.weights)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    open(target, 'wb').close()
    assert fetch_weights(entry) == target


def test_a_name_builds_offline_from_a_local_file(tmp_path, monkeypatch):
    model = init_model(DEMO_CONFIG, device='cpu')
    ckpt = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': model.dataset_meta}}, ckpt)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingCheckpointError, match='train them with '
                       'python tools/train.py configs/emanet/'):
        MMSegInferencer(DEMO)
    given = MMSegInferencer(DEMO, weights=str(ckpt), device='cpu')
    # the row's own weights: the quick start's checkpoint, here a copy
    os.makedirs(f'work_dirs/{DEMO}')
    os.symlink(ckpt, f'work_dirs/{DEMO}/iter_400.pth')
    by_name = MMSegInferencer(DEMO, device='cpu')
    for inferencer in (given, by_name):
        state = inferencer.model.state_dict()
        assert all(torch.equal(state[k], v)
                   for k, v in model.state_dict().items())
