"""tools/misc/publish_model.py: a smaller file that evaluates the same."""
import hashlib
import re

import pytest
import torch

from emanet.apis import init_model
from emanet.engine.checkpoint.publishing import published_name
from emanet.utils.errors import run_tool

from helpers.tool_loader import load_tool

# Each test publishes the session's tiny trained checkpoint.
pytestmark = pytest.mark.slow

TOOL = 'tools/misc/publish_model.py'


@pytest.fixture(scope='module')
def published(tmp_path_factory, tiny_trained):
    config, ckpt = tiny_trained
    out = tmp_path_factory.mktemp('published') / 'emanet_tiny.pth'
    path = load_tool(TOOL).main([ckpt, str(out)])
    return config, ckpt, path


def test_name_carries_the_sha256_of_the_file(published, capsys):
    _, _, path = published
    with open(path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    assert re.fullmatch(r'emanet_tiny-[0-9a-f]{8}\.pth',
                        path.rsplit('/', 1)[1])
    assert path.endswith(f'-{sha[:8]}.pth')
    assert published_name('a/b.pth', sha) == f'a/b-{sha[:8]}.pth'
    assert published_name('b', sha) == f'b-{sha[:8]}.pth'


def test_only_weights_and_meta_stay(published):
    _, ckpt, path = published
    original = torch.load(ckpt, weights_only=False)
    slim = torch.load(path, weights_only=False)
    assert {'optimizer', 'message_hub'} <= set(original)
    assert set(slim) == {'state_dict', 'meta'}
    assert 'random_state' in original['meta']
    assert 'random_state' not in slim['meta']
    assert slim['meta']['dataset_meta'] == original['meta']['dataset_meta']
    assert slim['state_dict'].keys() == original['state_dict'].keys()
    for key, value in original['state_dict'].items():
        assert torch.equal(slim['state_dict'][key], value), key


def test_same_miou_at_most_60_percent_of_the_size(published, tmp_path):
    import os.path as osp
    config, ckpt, path = published
    assert osp.getsize(path) <= 0.6 * osp.getsize(ckpt)
    test = load_tool('tools/test.py')
    before = test.main([config, ckpt, '--work-dir', str(tmp_path / 'a')])
    after = test.main([config, path, '--work-dir', str(tmp_path / 'b')])
    assert after == before
    # init_model (strict) takes it, with the classes and palette
    model = init_model(config, path, device='cpu')
    assert len(model.dataset_meta['classes']) == 19
    # and training starts from it
    metrics = load_tool('tools/train.py').main([
        config, '--load-from', path, '--work-dir', str(tmp_path / 'c'),
        '--cfg-options', 'train_cfg.max_iters=1'])
    assert 'mIoU' in metrics


def test_bad_input_is_one_error_line(published, tmp_path, capsys):
    config, _, _ = published
    tool = load_tool(TOOL)
    missing = str(tmp_path / 'none.pth')
    out = str(tmp_path / 'out.pth')
    assert run_tool(tool.main, [missing, out]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'error: checkpoint {missing} does not exist')
    # a config file is not a checkpoint
    assert run_tool(tool.main, [config, out]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f'error: {config} is not a readable PyTorch '
                           'checkpoint')
    nan = tmp_path / 'nan.pth'
    torch.save({'state_dict': {'w': torch.tensor([float('nan')])}}, nan)
    assert run_tool(tool.main, [str(nan), out]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'error: {nan} has NaN/Inf in 1 tensors (first: w); publish a '
        'checkpoint of before the divergence')
    assert not list(tmp_path.glob('out*'))
