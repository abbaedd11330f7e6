"""CheckpointHook: save_at, the record after the write, and a quiet start."""
import os.path as osp

from mmengine.logging import MessageHub, MMLogger

from emanet.engine.checkpoint.last_checkpoint import (
    LAST_CKPT,
    last_saved_checkpoint,
)
from emanet.engine.hooks import CheckpointHook


class _Runner:
    """What the hook reads of a Runner; saving writes a marker file."""

    def __init__(self, work_dir, name='ckpt_hook_test'):
        self.work_dir = str(work_dir)
        self.epoch = 0
        self.logger = MMLogger.get_instance(name)
        self.message_hub = MessageHub.get_instance(name)
        self.saved = []

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        # The hook names the checkpoint only once it is written.
        assert last_saved_checkpoint(self) is None or \
            not last_saved_checkpoint(self).endswith(filename)
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
    # One notion of the last checkpoint: the record, mmengine's hub key
    # and the hook's attribute agree.
    assert last_saved_checkpoint(runner) == path
    assert runner.message_hub.get_info(LAST_CKPT) == path
    assert hook.last_ckpt == path
    # The latest checkpoint is that one already: nothing is written.
    assert hook.save_at(runner, 3) == 'iter_3.pth'
    assert len(runner.saved) == 1


def test_outdated_checkpoint_is_removed_after_the_record(tmp_path):
    runner = _Runner(tmp_path, 'ckpt_hook_keep')
    hook = CheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1)
    hook.before_train(runner)
    hook.save_at(runner, 1)
    hook.save_at(runner, 2)
    assert sorted(p.name for p in tmp_path.iterdir()
                  if p.suffix == '.pth') == ['iter_2.pth']
    assert runner.message_hub.get_info('keep_ckpt_ids') == [2]
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_2.pth'


def test_start_logs_no_file_client_notice(tmp_path, capsys):
    runner = _Runner(tmp_path, 'ckpt_hook_quiet')
    CheckpointHook(interval=1, by_epoch=False).before_train(runner)
    out = capsys.readouterr()
    assert 'FileClient' not in out.out + out.err
    assert 'HardDiskBackend' not in out.out + out.err
    assert f'Checkpoints will be saved to {tmp_path}' in out.out + out.err
    # Only while the hook starts: the logger drops nothing afterwards.
    assert not MMLogger.get_current_instance().filters
