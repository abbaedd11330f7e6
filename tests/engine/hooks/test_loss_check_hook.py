"""NonFiniteLossHook: a NaN/Inf loss stops training before any save."""
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

from emanet.engine.checkpoint.last_checkpoint import (
    LAST_CKPT,
    read_last_checkpoint,
)
from emanet.engine.hooks import NonFiniteLossHook
from emanet.utils.errors import TrainingDivergedError

from helpers.engine_toy import make_runner


def _last_checkpoint(work_dir):
    return read_last_checkpoint(str(work_dir))


def test_message_names_last_saved_checkpoint():
    hub = MessageHub.get_instance('loss_check_test')
    hub.update_info(LAST_CKPT, 'iter_4.pth')  # the last complete one
    runner = SimpleNamespace(message_hub=hub, iter=6, max_iters=10)
    hook = NonFiniteLossHook()
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.)))
    with pytest.raises(TrainingDivergedError) as err:
        hook.after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))
    assert 'iteration 7 of 10: loss=inf' in str(err.value)
    assert 'The last finite checkpoint is iter_4.pth' in str(err.value)


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
