"""NonFiniteLossHook names the last complete checkpoint (SegRunner's)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

from emanet.engine.hooks import NonFiniteLossHook
from emanet.engine.hooks.checkpoint_hook import LAST_SAVED_CKPT
from emanet.utils.errors import TrainingDivergedError


def test_message_names_last_saved_checkpoint():
    hub = MessageHub.get_instance('loss_check_test')
    hub.update_info('last_ckpt', 'iter_6.pth')  # its save failed
    hub.update_info(LAST_SAVED_CKPT, 'iter_4.pth')
    runner = SimpleNamespace(message_hub=hub, iter=6, max_iters=10)
    hook = NonFiniteLossHook()
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.)))
    with pytest.raises(TrainingDivergedError) as err:
        hook.after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))
    assert 'iteration 7 of 10: loss=inf' in str(err.value)
    assert 'The last finite checkpoint is iter_4.pth' in str(err.value)
