"""User errors end the tools with one line, without a traceback."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from emanet.utils.errors import BadDataError, ConfigError, run_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(
    REPO, 'configs/emanet/emanet_r18-d8_1xb4-400_cityscapes-demo-256x512.py')


def _fail(argv):
    raise ConfigError('cfg.py: model: the message')


def test_user_error_is_one_last_line(capsys, monkeypatch):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    assert run_tool(_fail, []) == 1
    captured = capsys.readouterr()
    assert captured.err == 'error: cfg.py: model: the message\n'
    assert 'Traceback' not in captured.out + captured.err
    with pytest.raises(ConfigError):
        run_tool(_fail, ['--debug'])
    monkeypatch.setenv('EMANET_DEBUG', '1')
    with pytest.raises(ConfigError):
        run_tool(_fail, [])


def test_bugs_keep_their_traceback_and_status_passes_through():
    def bug(argv):
        raise ZeroDivisionError('a bug')
    with pytest.raises(ZeroDivisionError):
        run_tool(bug, [])
    assert run_tool(lambda argv: 3, []) == 3
    assert run_tool(lambda argv: {'mIoU': 1.0}, []) == 0


def test_data_loader_worker_traceback_is_dropped(capsys):
    # What torch raises in the main process for an error in a worker.
    wrapped = BadDataError(
        'Caught BadDataError in DataLoader worker process 0.\n'
        'Original Traceback (most recent call last):\n'
        '  File "x.py", line 1, in f\n'
        'emanet.utils.errors.BadDataError: Label map a.png has values '
        '[300]')

    def main(argv):
        raise wrapped
    assert run_tool(main, []) == 1
    assert capsys.readouterr().err == (
        'error: Label map a.png has values [300]\n')


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
