"""NaN/Inf losses stop training; SIGTERM / Ctrl-C stop it cleanly."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from engine_toy import make_runner
from mmengine.hooks import Hook

from emanet.engine.checkpoint_loading import load_checkpoint_file
from emanet.utils.errors import (
    CheckpointError,
    TrainingDivergedError,
    UserError,
)

ENGINE_DIR = os.path.dirname(__file__)
REPO = os.path.dirname(os.path.dirname(ENGINE_DIR))


def _last_checkpoint(work_dir):
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test_nan_loss_stops_before_checkpoint(tmp_path):
    runner = make_runner(tmp_path, max_iters=8, interval=2, nan_at=4,
                         custom_hooks=[dict(type='NonFiniteLossHook')])
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    msg = str(err.value)
    assert 'iteration 4 of 8' in msg and 'loss_aux=nan' in msg
    assert 'loss=nan' in msg and 'loss_main' not in msg
    last = tmp_path / 'iter_2.pth'
    assert f'The last finite checkpoint is {last}: lower the learning rate ' \
        f'(optim_wrapper.optimizer.lr) and start from it with --load-from ' \
        f'{last}; --resume {last}' in msg
    # Iteration 4 would have been saved (interval 2): it was not.
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.pth')) \
        == ['iter_2.pth']
    assert _last_checkpoint(tmp_path) == str(tmp_path / 'iter_2.pth')


class _PoisonBases(Hook):
    """Makes the moving-average buffer infinite after iteration ``at``,
    the loss staying finite (like BatchNorm statistics that overflow)."""

    priority = 'NORMAL'  # before CheckpointHook

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            runner.model.bases.fill_(float('inf'))


def test_nonfinite_state_is_never_saved(tmp_path):
    runner = make_runner(tmp_path, max_iters=6, interval=1,
                         custom_hooks=[dict(type='NonFiniteLossHook'),
                                       _PoisonBases(3)])
    with pytest.raises(TrainingDivergedError) as err:
        runner.train()
    msg = str(err.value)
    last = tmp_path / 'iter_2.pth'
    assert msg.startswith(
        "Training diverged: the model holds NaN/Inf in 1 tensor(s) (first "
        "['bases']; BatchNorm statistics and EMA bases count too), so "
        f"{tmp_path / 'iter_3.pth'} was not saved. The last finite "
        f"checkpoint is {last}: lower the learning rate")
    assert f'--load-from {last}' in msg and '\n' not in msg
    assert isinstance(err.value, FloatingPointError) and \
        isinstance(err.value, UserError)
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.pth')) \
        == ['iter_1.pth', 'iter_2.pth']
    assert _last_checkpoint(tmp_path) == str(last)
    # A non-finite checkpoint is refused for loading too.
    state = load_checkpoint_file(str(last))
    state['state_dict']['bases'][0] = float('nan')
    torch.save(state, tmp_path / 'bad.pth')
    runner = make_runner(tmp_path / 'wd2', load_from=str(tmp_path / 'bad.pth'))
    with pytest.raises(CheckpointError, match=r'bad.pth holds NaN/Inf '
                       r"values in 1 tensor\(s\) \(first \['bases'\]\)"):
        runner.load_or_resume()


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
        from engine_toy import make_runner
        make_runner({str(work_dir)!r}, max_iters=100000, interval=100000,
                    sleep=0.02, custom_hooks=[dict(
                        type='InterruptHook', save_on_interrupt={save})]
                    ).train()
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, ENGINE_DIR]))
    log = open(tmp_path / 'log.txt', 'w+')
    proc = subprocess.Popen([sys.executable, str(script)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        started = re.compile(r'Iter\(train\) \[ *5/')
        while not started.search(open(tmp_path / 'log.txt').read()):
            assert proc.poll() is None and time.time() < deadline
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
