"""CheckpointHook's public API: save_at and the last saved checkpoint."""
import os.path as osp

from mmengine.logging import MessageHub, MMLogger

from emanet.engine.hooks import CheckpointHook
from emanet.engine.hooks.checkpoint_hook import (
    LAST_SAVED_CKPT,
    last_saved_checkpoint,
)


class _Runner:
    """What the hook reads of a Runner; saving writes a marker file."""

    def __init__(self, work_dir):
        self.work_dir = str(work_dir)
        self.epoch = 0
        self.logger = MMLogger.get_instance('ckpt_hook_test')
        self.message_hub = MessageHub.get_instance('ckpt_hook_test')
        self.saved = []

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        with open(osp.join(out_dir, filename), 'wb') as f:
            f.write(b'checkpoint')
        self.saved.append((filename, kwargs['meta']))


def test_save_at_writes_once_and_updates_last_checkpoint(tmp_path):
    runner = _Runner(tmp_path)
    hook = CheckpointHook(interval=100, by_epoch=False)
    hook.before_train(runner)
    assert hook.save_at(runner, 3) == 'iter_3.pth'
    path = str(tmp_path / 'iter_3.pth')
    assert osp.isfile(path)
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == 'iter_3.pth'  # relative to the work dir
    assert runner.saved == [('iter_3.pth', dict(epoch=0, iter=3))]
    # The latest checkpoint is that one already: nothing is written.
    assert hook.save_at(runner, 3) == 'iter_3.pth'
    assert len(runner.saved) == 1


def test_last_saved_checkpoint_prefers_the_complete_one(tmp_path):
    runner = _Runner(tmp_path)
    assert last_saved_checkpoint(runner) is None
    # mmengine's record, set before a save that may fail ...
    runner.message_hub.update_info('last_ckpt', 'started.pth')
    assert last_saved_checkpoint(runner) == 'started.pth'
    # ... SegRunner's, set once a save is complete.
    runner.message_hub.update_info(LAST_SAVED_CKPT, 'complete.pth')
    assert last_saved_checkpoint(runner) == 'complete.pth'
