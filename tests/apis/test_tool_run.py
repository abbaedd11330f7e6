"""The tools' start-up: model file, demo data (one rank per machine),
data folders and default scope, in that order."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import emanet.apis.tool_run as tool_run
import emanet.datasets.demo_data as demo_data
from emanet.apis.tool_run import (
    demo_data_roots,
    prepare_demo_data,
    prepare_tool_run,
)
from emanet.datasets import CityscapesDemoDataset
from emanet.datasets.demo_data import (
    DEFAULT_ROOT,
    generate_demo_data,
    is_demo_data,
)
from emanet.utils.errors import MissingCheckpointError, MissingDataError

from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import REPO, load_tool

GENERATED = 'generated the demo data set'
VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')
TRAIN = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train')


@pytest.fixture
def small(monkeypatch):
    """The step generates 2 train + 1 val images instead of 60 + 12."""
    real = demo_data.generate_demo_data
    monkeypatch.setattr(demo_data, 'generate_demo_data',
                        lambda root, *args: real(root, 2, 1))


def demo_config(root, **extra) -> Config:
    dataset = dict(type='CityscapesDemoDataset', data_root=str(root),
                   data_prefix=TRAIN)
    return Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2, dataset=dataset)),
        val_dataloader=dict(dataset=dict(dataset, data_prefix=VAL)),
        test_dataloader=dict(dataset=dict(dataset, data_prefix=VAL)),
        **extra))


def current_scope():
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


# -- prepare_tool_run ---------------------------------------------------
def test_steps_run_in_order(monkeypatch, tmp_path):
    calls = []
    for name in ('check_model_file', 'check_pretrained_file',
                 'prepare_demo_data', 'check_data_folders',
                 'init_default_scope'):
        monkeypatch.setattr(
            tool_run, name,
            lambda *args, _name=name: calls.append((_name, args)) or [])
    cfg = demo_config(tmp_path / 'demo', model=dict(type='X'))
    prepare_tool_run(cfg, model_file='m.pth', model_what='checkpoint',
                     pretrained=True, demo_data=True,
                     splits=('train', 'val'), demo_timeout=5)
    assert calls == [
        ('check_model_file', ('m.pth', 'checkpoint')),
        ('check_pretrained_file', (cfg.model, )),
        ('prepare_demo_data', (cfg, 5)),
        ('check_data_folders', (cfg, ('train', 'val'))),
        ('init_default_scope', ('emanet', )),
    ]
    calls.clear()
    prepare_tool_run(cfg)  # only the scope unless asked
    assert calls == [('init_default_scope', ('emanet', ))]
    calls.clear()
    prepare_tool_run(cfg, scope=False)
    assert calls == []


def test_model_file_is_checked_before_the_demo_data(tmp_path):
    root = tmp_path / 'cityscapes_demo'
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(MissingCheckpointError) as error:
        prepare_tool_run(demo_config(root), model_file=missing,
                         demo_data=True)
    assert str(error.value) == (f'model file {missing} does not exist; '
                                'check the path')
    with pytest.raises(MissingCheckpointError, match='^checkpoint '):
        prepare_tool_run(demo_config(root), model_file=missing,
                         model_what='checkpoint', demo_data=True)
    with pytest.raises(MissingCheckpointError, match='model.pretrained'):
        prepare_tool_run(
            demo_config(root, model=dict(pretrained=missing)),
            pretrained=True, demo_data=True)
    # Nothing generated, nothing after the failing step ran.
    assert not root.exists()
    assert current_scope() is None


def test_demo_data_is_generated_before_the_folders_are_checked(
        tmp_path, small, capsys):
    root = str(tmp_path / 'cityscapes_demo')
    cfg = demo_config(root, default_scope='emanet')
    # Without generation, the demo data set itself says how to make it.
    with pytest.raises(MissingDataError, match='make_demo_data.py --out'):
        prepare_tool_run(cfg, splits=('train', ))
    assert current_scope() is None
    assert prepare_tool_run(cfg, demo_data=True,
                            splits=('train', 'val', 'test')) == [root]
    assert is_demo_data(root) and current_scope() == 'emanet'
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.strip()]
    assert len(lines) == 1 and GENERATED in lines[0]


def test_missing_data_folder_named_in_one_line(tmp_path, demo_data_root):
    dataset = dict(type='CityscapesDataset', data_root=demo_data_root,
                   data_prefix=dict(TRAIN, img_path='leftImg8bit/nope'))
    cfg = Config(dict(train_dataloader=dict(dataset=dataset)))
    prepare_tool_run(cfg, splits=('val', ))  # the config has no val
    with pytest.raises(MissingDataError) as error:
        prepare_tool_run(cfg, splits=('train', ))
    message = str(error.value)
    assert message.startswith(f'image folder {demo_data_root}/leftImg8bit/'
                              'nope does not exist; expected the '
                              'Cityscapes layout')
    assert '\n' not in message


def test_other_local_ranks_wait_through_the_start_up(tmp_path, small,
                                                     monkeypatch):
    root = str(tmp_path / 'cityscapes_demo')
    monkeypatch.setenv('LOCAL_RANK', '1')
    with pytest.raises(MissingDataError, match='local rank 0'):
        prepare_tool_run(demo_config(root), demo_data=True,
                         splits=('train', ), demo_timeout=0.2)
    assert not os.path.exists(root)  # rank 1 never generates
    generate_demo_data(root, 2, 1)  # as local rank 0 would
    assert prepare_tool_run(demo_config(root), demo_data=True,
                            splits=('train', )) == [root]


def test_scope_of_the_config(tmp_path):
    prepare_tool_run(Config(dict(default_scope='mmseg')))
    assert current_scope() == 'mmseg'


# -- the demo data sets of a config -------------------------------------
def test_roots_of_a_config():
    cfg = demo_config('data/x/')
    cfg.test_dataloader = dict(dataset=dict(
        type='ConcatDataset', datasets=[
            dict(type='emanet.CityscapesDemoDataset'),
            dict(type='CityscapesDataset', data_root='data/cityscapes')]))
    cfg.val_dataloader = None  # validation off
    assert demo_data_roots(cfg) == ['data/x', DEFAULT_ROOT]
    assert demo_data_roots(Config(dict(train_dataloader=dict(
        dataset=dict(type='CityscapesDataset'))))) == []


def test_own_cityscapes_layout_data_is_used_as_it_is(tmp_path):
    root = str(tmp_path / 'own')
    generate_demo_data(root, num_train=2, num_val=1)
    os.remove(os.path.join(root, 'demo_info.json'))  # not demo data now
    files = sorted(p for p in Path(root).rglob('*') if p.is_file())
    assert prepare_demo_data(demo_config(root)) == [root]
    assert sorted(p for p in Path(root).rglob('*') if p.is_file()) == files
    assert not is_demo_data(root)


def test_step_generates_once_with_one_log_line(tmp_path, small, capsys):
    root = str(tmp_path / 'data' / 'cityscapes_demo')
    assert prepare_demo_data(demo_config(root)) == [root]
    assert is_demo_data(root)
    assert len((Path(root) / 'train.txt').read_text().split()) == 2
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.strip()]
    assert len(lines) == 1 and GENERATED in lines[0]
    assert f'{root}: 2 train + 1 val images' in lines[0]
    stamp = os.stat(os.path.join(root, 'demo_info.json')).st_mtime_ns
    # A second call (another tool, another loader) does nothing.
    prepare_demo_data(demo_config(root))
    assert capsys.readouterr().out == ''
    assert os.stat(os.path.join(root, 'demo_info.json')).st_mtime_ns == stamp
    assert os.listdir(tmp_path / 'data') == ['cityscapes_demo']
    ds = CityscapesDemoDataset(data_root=root, data_prefix=VAL)
    assert len(ds) == 1


def test_other_local_ranks_wait_for_local_rank_0(tmp_path, small, capsys,
                                                 monkeypatch):
    root = str(tmp_path / 'cityscapes_demo')
    monkeypatch.setenv('LOCAL_RANK', '1')
    with pytest.raises(MissingDataError, match='local rank 0'):
        prepare_demo_data(demo_config(root), timeout=0.2)
    assert not os.path.exists(root)  # rank 1 never generates

    def rank_0():
        time.sleep(0.5)
        generate_demo_data(root, 2, 1)

    thread = threading.Thread(target=rank_0)
    thread.start()
    try:
        prepare_demo_data(demo_config(root), timeout=120)
    finally:
        thread.join()
    assert is_demo_data(root) and GENERATED not in capsys.readouterr().out


def test_slurm_tasks_other_than_local_rank_0_wait(tmp_path, small,
                                                  monkeypatch):
    # srun sets SLURM_LOCALID, not LOCAL_RANK, before the process group.
    root = str(tmp_path / 'cityscapes_demo')
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    monkeypatch.setenv('SLURM_LOCALID', '1')
    cfg = demo_config(root)
    cfg.launcher = 'slurm'
    with pytest.raises(MissingDataError, match='local rank 0'):
        prepare_demo_data(cfg, timeout=0.2)
    assert not os.path.exists(root)
    # Without --launcher slurm, a Slurm variable alone does not count.
    cfg.launcher = 'none'
    prepare_demo_data(cfg)
    assert is_demo_data(root)


# Waits until the test says go, so that both processes call the step at
# the same time.
CONCURRENT = """
import os, sys, time
from mmengine.config import Config
import emanet.datasets.demo_data as d
from emanet.apis.tool_run import prepare_demo_data
real = d.generate_demo_data
d.generate_demo_data = lambda root, *args: real(root, 2, 1)
root, ready, go = sys.argv[1:]
open(ready, 'w').close()
while not os.path.exists(go):
    time.sleep(0.01)
prepare_demo_data(Config(dict(train_dataloader=dict(
    dataset=dict(type='CityscapesDemoDataset', data_root=root)))))
"""


@pytest.mark.slow
def test_concurrent_steps_make_one_data_set(tmp_path):
    root = tmp_path / 'data' / 'cityscapes_demo'
    go = tmp_path / 'go'
    env = dict(os.environ, LOCAL_RANK='0')
    procs = [
        subprocess.Popen(
            [sys.executable, '-c', CONCURRENT, str(root),
             str(tmp_path / f'ready{i}'), str(go)],
            cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f'ready{i}').exists() for i in range(2)):
        assert time.monotonic() < deadline and \
            all(p.poll() is None for p in procs)
        time.sleep(0.05)
    go.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(out.count(GENERATED) for out in outs) == 1, outs
    assert is_demo_data(str(root))
    assert len((root / 'train.txt').read_text().split()) == 2
    assert len(list((root / 'leftImg8bit').rglob('*.png'))) == 3
    assert os.listdir(root.parent) == ['cityscapes_demo']


@pytest.mark.slow
def test_train_tool_generates_missing_demo_data_first(tmp_path, small,
                                                      capsys):
    root = tmp_path / 'data' / 'cityscapes_demo'
    config = write_tiny_config(
        tmp_path / 'tiny.py', root,
        'train_cfg = dict(max_iters=1, val_interval=1)\n')
    train = load_tool('tools/train.py')
    metrics = train.main([config, '--work-dir', str(tmp_path / 'work')])
    assert 'mIoU' in metrics and is_demo_data(str(root))
    assert capsys.readouterr().out.count(GENERATED) == 1
