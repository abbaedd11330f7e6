"""InterruptHook: SIGTERM / Ctrl-C stop training cleanly (and save)."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger

from emanet.engine.checkpoint.last_checkpoint import read_last_checkpoint
from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.engine.hooks import InterruptHook
from emanet.engine.runner import SegRunner

from helpers.engine_toy import make_runner
from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import REPO

# The training script run in a subprocess imports helpers.engine_toy from here.
TESTS_DIR = os.path.join(REPO, 'tests')


def _last_checkpoint(work_dir):
    return read_last_checkpoint(str(work_dir))


def test_restore_signal_handlers_is_public_and_idempotent():
    before = signal.getsignal(signal.SIGTERM)
    hook = InterruptHook(signals=('SIGTERM', ))
    runner = SimpleNamespace(logger=MMLogger.get_instance('interrupt_test'))
    hook.before_train(runner)
    assert signal.getsignal(signal.SIGTERM) != before
    hook.restore_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) is before
    hook.restore_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) is before


class _SendSignal(Hook):

    def __init__(self, at, signum):
        self.at, self.signum = at, signum

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


def test_ctrl_c_saves_and_stops_in_process(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    runner = make_runner(
        tmp_path, max_iters=50, interval=100,
        custom_hooks=[dict(type='InterruptHook', save_on_interrupt=True),
                      _SendSignal(3, signal.SIGINT)])
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert runner.iter == 2  # iteration 3 finished, loop counter not yet
    assert _last_checkpoint(tmp_path) == str(tmp_path / 'iter_3.pth')
    assert load_checkpoint_file(_last_checkpoint(tmp_path))['meta'][
        'iter'] == 3
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow
@pytest.mark.parametrize('save', [True, False])
def test_sigterm_exits_promptly(tmp_path, save):
    work_dir = tmp_path / 'wd'
    script = tmp_path / 'train_long.py'
    script.write_text(textwrap.dedent(f'''
        from helpers.engine_toy import make_runner
        make_runner({str(work_dir)!r}, max_iters=100000, interval=100000,
                    sleep=0.02, custom_hooks=[dict(
                        type='InterruptHook', save_on_interrupt={save})]
                    ).train()
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, TESTS_DIR]))
    log = open(tmp_path / 'log.txt', 'w+')
    proc = subprocess.Popen([sys.executable, str(script)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        started = re.compile(r'Iter\(train\) \[ *5/')
        while not started.search(open(tmp_path / 'log.txt').read()):
            assert proc.poll() is None and time.time() < deadline, \
                open(tmp_path / 'log.txt').read()[-2000:]
            time.sleep(0.1)
        sent = time.time()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
        assert time.time() - sent < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    text = open(tmp_path / 'log.txt').read()
    stopped = re.search(r'SIGTERM received: stopped after iteration (\d+)',
                        text)
    assert stopped, text[-2000:]
    names = os.listdir(work_dir)
    assert not [n for n in names if '.tmp-' in n]
    if save:
        step = int(stopped.group(1))
        assert f'checkpoint iter_{step}.pth saved' in text
        assert _last_checkpoint(work_dir) == str(work_dir / f'iter_{step}.pth')
        assert load_checkpoint_file(_last_checkpoint(work_dir))['meta'][
            'iter'] == step
    else:
        assert not [n for n in names if n.endswith('.pth')]
        assert 'last_checkpoint' not in names


class _SignalDuringValidation(Hook):

    priority = 'NORMAL'  # before InterruptHook (LOWEST) at the same step

    def before_train(self, runner):
        self.trained = runner.model

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        self.validated = runner.model
        os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_stop_during_fast_validation_saves_the_trained_model(
        tmp_path, demo_data_root):
    """fast_inference validates a copy with BatchNorm folded; Ctrl-C while
    it runs saves the trained weights, which a strict resume takes."""
    config = write_tiny_config(tmp_path / 'tiny.py', demo_data_root,
                               'default_hooks = dict(visualization=dict('
                               'draw=False))\n')
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.fast_inference = {}
    cfg.custom_hooks = [dict(type='InterruptHook', save_on_interrupt=True)]
    runner = SegRunner.from_cfg(cfg)
    spy = _SignalDuringValidation()
    runner.register_hook(spy)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert spy.validated is not spy.trained  # the fast-path copy validated
    assert runner.model is spy.trained  # and the trained model is back
    saved = load_checkpoint_file(_last_checkpoint(cfg.work_dir))
    assert saved['meta']['iter'] == 2
    trained = spy.trained.state_dict()
    assert saved['state_dict'].keys() == trained.keys()
    assert any(key.startswith('backbone.') and key.endswith('running_var')
               for key in saved['state_dict'])  # BatchNorm, not folded
    for key, value in trained.items():
        assert torch.equal(saved['state_dict'][key], value), key
