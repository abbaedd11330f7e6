"""A user error ends a tool with one line, without a traceback.

How run_tool prints it: tests/utils/test_errors.py.
"""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from tiny_demo import DEMO_CONFIG
from tool_loader import REPO, load_tool

from emanet.utils.errors import run_tool


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
