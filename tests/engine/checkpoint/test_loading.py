"""Safe checkpoint loading: allow-list, refusals and clear messages."""
import os
import pickle
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer

from emanet.engine.checkpoint.loading import (
    get_state_dict,
    load_checkpoint,
    load_checkpoint_file,
)
from emanet.utils.errors import CheckpointError, UnsafeCheckpointError

from helpers.engine_toy import ToyModel, make_runner


@pytest.fixture(scope='module')
def mmengine_ckpt(tmp_path_factory):
    """A checkpoint written by a real (Seg)Runner after 2 iterations."""
    work_dir = tmp_path_factory.mktemp('toy')
    make_runner(work_dir, max_iters=2, interval=2).train()
    return str(work_dir / 'iter_2.pth')


def test_runner_checkpoint_needs_allow_list_and_loads(mmengine_ckpt):
    # Plain torch.load(weights_only=True) refuses mmengine's types ...
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(mmengine_ckpt, weights_only=True)
    # ... the allow-list admits exactly them, and only inside the loader.
    ckpt = load_checkpoint_file(mmengine_ckpt)
    assert set(ckpt) >= {'meta', 'state_dict', 'message_hub', 'optimizer',
                         'param_schedulers'}
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and len(loss.data[0]) == 2
    assert loss.statistics('mean') == pytest.approx(loss.mean())
    assert ckpt['meta']['iter'] == 2
    with pytest.raises(pickle.UnpicklingError):
        torch.load(mmengine_ckpt, weights_only=True)


def test_loads_before_any_history_buffer_exists(mmengine_ckpt, monkeypatch):
    # In a fresh process HistoryBuffer's class-level method table is empty.
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    ckpt = load_checkpoint_file(mmengine_ckpt)
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() > 0


class _RunsCode:
    """Unpickling this would write a file (stand-in for os.system)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f'touch {self.target}',)


class _ReachesGlobals:
    """Unpickling this would walk from HistoryBuffer to module globals."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_code_running_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)},
                'meta': _RunsCode(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(str(path))
    assert 'system' in str(err.value) and str(path) in str(err.value)
    assert 'could run arbitrary code' in str(err.value)
    assert not marker.exists()

    path2 = tmp_path / 'evil2.pth'
    torch.save({'meta': _ReachesGlobals()}, path2)
    with pytest.raises(UnsafeCheckpointError, match='__init__'):
        load_checkpoint_file(str(path2))


def test_missing_and_non_checkpoint_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found: .*nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    (tmp_path / 'random.pth').write_bytes(np.random.bytes(1000))
    (tmp_path / 'notes.txt').write_text('hello, not weights\n')
    for name in ('random.pth', 'notes.txt'):
        with pytest.raises(CheckpointError,
                           match=f'{name} is not a readable PyTorch ckpt'
                           .replace('ckpt', 'checkpoint')):
            load_checkpoint_file(str(tmp_path / name))
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(CheckpointError, match='holds a list, not a'):
        load_checkpoint_file(str(tmp_path / 'list.pth'))


class _TinySegmentor(nn.Module):

    def __init__(self, num_classes):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)
        self.decode_head = nn.Module()
        self.decode_head.conv_seg = nn.Conv2d(8, num_classes, 1)


def test_nonfinite_checkpoint_is_refused(tmp_path):
    state = _TinySegmentor(5).state_dict()
    state['decode_head.conv_seg.bias'][1] = float('inf')
    path = str(tmp_path / 'diverged.pth')
    torch.save(dict(state_dict=state), path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_TinySegmentor(5), path)
    assert f'Checkpoint {path} holds NaN/Inf values in 1 tensor(s) (first ' \
        "['decode_head.conv_seg.bias'])" in str(err.value)


@pytest.mark.parametrize('layout', ['mmseg0.x', 'mmseg1.x'])
def test_mmsegmentation_layouts_load(tmp_path, layout):
    """Released checkpoints: ``state_dict`` + ``meta`` (numpy in meta)."""
    src = ToyModel()
    meta = dict(config='model = dict()', epoch=80, iter=80000)
    if layout == 'mmseg0.x':
        meta.update(CLASSES=('road', 'car'), PALETTE=[[1, 2, 3], [4, 5, 6]],
                    mmseg_version='0.11.0', mmcv_version='1.2.4',
                    hook_msgs=dict(best_score=np.float64(0.78)))
    else:
        meta.update(dataset_meta=dict(
            classes=('road', 'car'), palette=np.array([[1, 2, 3]])),
            mmengine_version='0.10.7')
    path = tmp_path / f'{layout}.pth'
    torch.save(dict(state_dict=src.state_dict(), meta=meta,
                    optimizer={'state': {}, 'param_groups': []}), path)

    dst = ToyModel()
    ckpt = load_checkpoint(dst, str(path), strict=True)
    assert torch.equal(dst.linear.weight, src.linear.weight)
    assert ckpt['meta']['iter'] == 80000

    runner = make_runner(tmp_path / 'wd', load_from=str(path))
    runner.load_checkpoint(str(path))
    assert torch.equal(runner.model.linear.weight, src.linear.weight)


def test_state_dict_of_any_layout_without_module_prefix():
    weights = OrderedDict(w=torch.zeros(1))
    wrapped = OrderedDict(('module.' + k, v) for k, v in weights.items())
    for ckpt in (weights, dict(state_dict=weights),
                 dict(state_dict=wrapped, meta={})):
        assert list(get_state_dict(ckpt)) == ['w']


def test_partial_weights_load_unless_strict(tmp_path):
    ckpt = _TinySegmentor(5).state_dict()
    path = str(tmp_path / 'backbone.pth')
    torch.save({k: v for k, v in ckpt.items() if 'backbone' in k}, path)
    model = _TinySegmentor(5)
    load_checkpoint(model, path)
    assert torch.equal(model.backbone.weight, ckpt['backbone.weight'])
    with pytest.raises(CheckpointError, match='To load matching weights '
                       'only, pass strict=False.$'):
        load_checkpoint(_TinySegmentor(5), path, strict=True,
                        partial_hint='pass strict=False')


def test_importing_the_loader_imports_no_runner_or_hooks():
    # What init_model (emanet.apis) loads weights through.
    code = '\n'.join([
        'import sys',
        'import emanet.engine.checkpoint.loading',
        "heavy = ('mmengine.runner', 'mmengine.hooks', 'emanet.models',",
        "         'emanet.engine.runner', 'emanet.engine.hooks')",
        'print([m for m in sys.modules if m.startswith(heavy)])',
    ])
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == '[]'
