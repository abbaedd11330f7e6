"""CheckpointCaptureHook hands over the checkpoint every hook has edited."""
import pytest
from engine_toy import make_runner
from mmengine.hooks import Hook

from emanet.engine.checkpoint_capture import (
    CheckpointCaptured,
    CheckpointCaptureHook,
)
from emanet.engine.checkpoint_loading import load_checkpoint_file


def test_raises_only_while_armed():
    hook = CheckpointCaptureHook()
    checkpoint = dict(meta=dict(iter=2))
    assert not hook.armed
    hook.before_save_checkpoint(None, checkpoint)  # does nothing
    assert checkpoint == dict(meta=dict(iter=2))
    hook.armed = True
    with pytest.raises(CheckpointCaptured) as err:
        hook.before_save_checkpoint(None, checkpoint)
    assert err.value.checkpoint is checkpoint  # the same dict, not a copy


class _EditCheckpoint(Hook):
    """A config's hook editing the checkpoint at the lowest priority too."""

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['meta']['edited_by'] = 'custom hook'


def test_runner_writes_what_every_other_hook_left(tmp_path):
    runner = make_runner(tmp_path, max_iters=2, interval=2,
                         custom_hooks=[_EditCheckpoint()])
    capture = runner.hooks[-1]
    assert isinstance(capture, CheckpointCaptureHook)
    assert capture.get_triggered_stages() == ['before_save_checkpoint']
    runner.train()
    saved = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))
    assert saved['meta']['edited_by'] == 'custom hook'
    assert saved['meta']['iter'] == 2
    assert not capture.armed  # disarmed after the save
