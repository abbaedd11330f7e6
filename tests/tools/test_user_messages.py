"""A user error ends a tool with one line, without a traceback; a
tool's notes are one line too.

How run_tool prints it: tests/utils/test_errors.py; every tool with each
kind of wrong input: tests/tools/test_tool_errors.py.
"""
import gc
import glob
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import urllib.error

import cv2
import numpy as np
import pytest
import torch

from emanet.utils.errors import run_tool

from helpers.tiny_demo import DEMO_CONFIG, write_tiny_config
from helpers.tool_loader import REPO, load_tool


@pytest.mark.slow
def test_train_script_prints_one_line_before_any_dump(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop('EMANET_DEBUG', None)
    work_dir = tmp_path / 'work'
    cmd = [sys.executable, osp.join(REPO, 'tools/train.py'), DEMO_CONFIG,
           '--work-dir', str(work_dir), '--cfg-options', 'optimizer.lr=0.02']
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=str(tmp_path))
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert 'System environment' not in proc.stdout  # mmengine's dump
    assert proc.stderr.splitlines()[-1] == (
        "error: --cfg-options optimizer.lr: nothing reads 'optimizer' after "
        'the config file has run (its value was copied into '
        'optim_wrapper.optimizer); set optim_wrapper.optimizer.lr instead')
    assert not work_dir.exists()


@pytest.mark.parametrize('tool,argv', [
    ('demo/image_demo.py', ['IMG', DEMO_CONFIG, 'CKPT']),
    ('tools/analysis_tools/benchmark.py', [DEMO_CONFIG, 'CKPT']),
])
def test_unavailable_device_is_one_line(tool, argv, tmp_path, monkeypatch,
                                        capsys):
    """--device cuda on a machine without CUDA: one line, no traceback."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    image, ckpt = tmp_path / 'a.png', tmp_path / 'w.pth'
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    torch.save({}, ckpt)
    files = dict(IMG=str(image), CKPT=str(ckpt))
    argv = [files.get(a, a) for a in argv]
    status = run_tool(load_tool(tool).main, [*argv, '--device', 'cuda'])
    err = capsys.readouterr().err
    assert status == 1 and 'Traceback' not in err
    assert err.splitlines()[-1] == (
        "error: device 'cuda' asked for, but CUDA is not available; use "
        '--device cpu')


def _offline(*args, **kwargs):
    """What urllib raises for a download on a machine without network."""
    raise urllib.error.URLError(
        socket.gaierror(-3, 'Temporary failure in name resolution'))


def test_offline_pretrained_backbone_is_one_line(demo_data_root, tmp_path,
                                                 monkeypatch, capsys):
    """Training with an open-mmlab:// backbone and no network: one line
    naming the weights, their URL, the cause and the way out."""
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))  # no cache
    monkeypatch.setattr(torch.hub, 'download_url_to_file', _offline)
    config = write_tiny_config(tmp_path / 'tiny.py', demo_data_root)
    status = run_tool(load_tool('tools/train.py').main, [
        config, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        'model.pretrained=open-mmlab://resnet18_v1c'])
    captured = capsys.readouterr()
    assert status == 1
    assert 'Traceback' not in captured.out + captured.err
    errors = [line for line in captured.err.splitlines()
              if line.startswith('error:')]
    assert errors == [captured.err.splitlines()[-1]]
    assert errors[0].startswith(
        'error: pretrained backbone weights open-mmlab://resnet18_v1c '
        '(https://download.openmmlab.com/pretrain/third_party/'
        'resnet18_v1c-')
    assert 'could not be downloaded: this machine seems offline ' \
        '(URLError: ' in errors[0]
    assert 'model.pretrained=None' in errors[0]
    assert 'model.backbone.init_cfg=None' in errors[0]


@pytest.mark.parametrize('tool,split', [('tools/train.py', 'train'),
                                        ('tools/test.py', 'val')])
def test_missing_data_is_named_before_the_dump(tool, split, tmp_path,
                                               monkeypatch, capsys):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    missing = str(tmp_path / 'no_data')
    config = tmp_path / 'elsewhere.py'
    config.write_text(
        f'_base_ = {DEMO_CONFIG!r}\n'
        f"dataset = dict(type='CityscapesDataset', data_root={missing!r})\n"
        'train_dataloader = dict(dataset=dataset)\n'
        'val_dataloader = dict(dataset=dataset)\n'
        'test_dataloader = val_dataloader\n')
    ckpt = tmp_path / 'w.pth'
    torch.save({}, ckpt)
    argv = [str(config), '--work-dir', str(tmp_path / 'work')]
    if tool == 'tools/test.py':
        argv.insert(1, str(ckpt))
    status = run_tool(load_tool(tool).main, argv)
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.splitlines()[-1].startswith(
        f'error: image folder {missing}/leftImg8bit/{split} does not exist')
    assert 'System environment' not in captured.out + captured.err
    assert 'Traceback' not in captured.out + captured.err


@pytest.mark.slow
def test_no_progress_line_after_the_error(tiny_trained, demo_data_root,
                                          tmp_path, monkeypatch, capsys):
    """An image that cannot be read halfway through the test: the error is
    the last line; the progress bar is not drawn again after it."""
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    config, ckpt = tiny_trained
    root = tmp_path / 'data'
    shutil.copytree(demo_data_root, root)
    images = sorted(glob.glob(str(root / 'leftImg8bit' / 'val' / '*' /
                                  '*.png')))
    open(images[-1], 'wb').close()  # the last test image: zero bytes
    status = run_tool(load_tool('tools/test.py').main, [
        config, ckpt, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={root}'])
    gc.collect()  # what an interpreter exit would draw
    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    errors = [i for i, line in enumerate(lines) if line.startswith('error:')]
    assert len(errors) == 1, lines[-3:]  # a line of its own
    error = errors[0]
    assert images[-1] in lines[error]
    assert error == len(lines) - 1  # one line, OpenCV's newline included
    bars = [i for i, line in enumerate(lines) if line.startswith('test:')]
    assert bars and max(bars) < error  # drawn, but never after the error
