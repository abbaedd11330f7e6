"""A user error ends tools/train.py with one line, without a traceback.

How run_tool prints it: tests/utils/test_errors.py.
"""
import os
import os.path as osp
import subprocess
import sys

from tiny_demo import DEMO_CONFIG
from tool_loader import REPO


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
