"""``last_checkpoint`` follows its work dir: a copied or moved work dir
resumes from its own checkpoint."""
import shutil
from types import SimpleNamespace

import pytest
from mmengine.hooks import Hook
from mmengine.logging import MessageHub, MMLogger

from emanet.engine.checkpoint.last_checkpoint import (
    checked_checkpoint_to_resume,
    checkpoint_to_resume,
    last_saved_checkpoint,
    read_last_checkpoint,
    record_checkpoint,
    training_checkpoints,
    write_last_checkpoint,
)
from emanet.utils.errors import (
    CheckpointError,
    MissingCheckpointError,
    WorkDirError,
)

from helpers.engine_toy import losses, make_runner


def test_record_is_relative_inside_the_work_dir(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    record = write_last_checkpoint(str(work), str(work / 'iter_4.pth'))
    assert open(record).read() == 'iter_4.pth'
    assert read_last_checkpoint(str(work)) == str(work / 'iter_4.pth')
    # A checkpoint written elsewhere (CheckpointHook out_dir) stays as is.
    elsewhere = str(tmp_path / 'ckpts' / 'work' / 'iter_4.pth')
    write_last_checkpoint(str(work), elsewhere)
    assert open(record).read() == elsewhere
    assert read_last_checkpoint(
        str(work), str(tmp_path / 'ckpts' / 'work')) == elsewhere


def test_one_notion_of_the_last_complete_checkpoint(tmp_path):
    runner = SimpleNamespace(work_dir=str(tmp_path),
                             message_hub=MessageHub.get_instance('record'))
    assert last_saved_checkpoint(runner) is None
    record_checkpoint(runner, str(tmp_path / 'iter_2.pth'))
    assert last_saved_checkpoint(runner) == str(tmp_path / 'iter_2.pth')
    assert read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    # A resumed-from checkpoint is the last one; the record stays.
    record_checkpoint(runner, '/elsewhere/iter_9.pth', resumed=True)
    assert last_saved_checkpoint(runner) == '/elsewhere/iter_9.pth'
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_2.pth'


def test_record_that_cannot_be_written_names_the_previous(tmp_path):
    runner = SimpleNamespace(work_dir=str(tmp_path / 'gone'),
                             message_hub=MessageHub.get_instance('fail'))
    runner.message_hub.update_info('last_ckpt', 'iter_2.pth')
    with pytest.raises(WorkDirError, match='The previous checkpoint '
                       'iter_2.pth is intact'):
        record_checkpoint(runner, 'iter_4.pth')
    assert last_saved_checkpoint(runner) == 'iter_2.pth'


def test_checkpoint_to_resume_says_which(tmp_path, capsys):
    logger = MMLogger.get_instance('to_resume')
    assert checkpoint_to_resume(str(tmp_path), None, logger) is None
    assert 'training starts from the beginning' in capsys.readouterr().out
    out_dir = tmp_path / 'ckpts'
    elsewhere = out_dir / tmp_path.name / 'iter_4.pth'
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(elsewhere))
    assert checkpoint_to_resume(str(tmp_path), str(out_dir), logger) == \
        str(elsewhere)
    assert f'Auto resumed from the latest checkpoint {elsewhere}.' in \
        capsys.readouterr().out


def test_absolute_records_are_still_read(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    assert read_last_checkpoint(str(work)) is None  # a new run
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    assert read_last_checkpoint(str(work)) == str(work / 'iter_2.pth')


def test_absolute_record_of_another_folder(tmp_path):
    old = tmp_path / 'old' / 'iter_2.pth'
    work = tmp_path / 'copy'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(old))
    with pytest.raises(CheckpointError) as err:
        read_last_checkpoint(str(work))
    message = str(err.value)
    assert '\n' not in message and str(old) in message
    assert f'--resume {old}' in message
    (work / 'iter_2.pth').write_bytes(b'')  # the copy's own file
    assert read_last_checkpoint(str(work)) == str(work / 'iter_2.pth')


class _StopAfter(Hook):
    """Ends training after iteration ``last`` (its checkpoint is written),
    as a killed run would."""

    priority = 'LOWEST'

    def __init__(self, last: int) -> None:
        self.last = last

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.last:
            runner.train_loop.stop_training = True


@pytest.mark.parametrize('keep_original', [True, False])
def test_copied_work_dir_resumes_from_its_own_checkpoint(tmp_path,
                                                         keep_original):
    first = tmp_path / 'first'
    run = make_runner(first, max_iters=6, interval=2, experiment_name='run')
    run.train()
    reference = losses(run)
    assert (first / 'last_checkpoint').read_text() == 'iter_6.pth'
    # Killed after iteration 4: its record names iter_4.pth.
    (first / 'iter_6.pth').unlink()
    write_last_checkpoint(str(first), str(first / 'iter_4.pth'))
    copy = tmp_path / 'copy'
    shutil.copytree(first, copy)
    # A stale original holds another state under the same name.
    shutil.copy(first / 'iter_2.pth', first / 'iter_4.pth')
    if not keep_original:
        shutil.rmtree(first)

    resumed = make_runner(copy, max_iters=6, interval=2, resume=True,
                          experiment_name='resumed')
    resumed.train()
    assert last_saved_checkpoint(resumed) == str(copy / 'iter_6.pth')
    assert losses(resumed) == reference  # iterations 1..6, bit-identical


def test_resume_logs_no_warning(tmp_path, capsys):
    make_runner(tmp_path, max_iters=6, interval=2,
                custom_hooks=[_StopAfter(4)], experiment_name='run').train()
    capsys.readouterr()
    make_runner(tmp_path, max_iters=6, interval=2, resume=True,
                experiment_name='resumed').train()
    out = capsys.readouterr().out
    assert 'Resumed at iteration 4' in out
    assert 'WARNING' not in out


def test_deleted_checkpoint_of_the_record_names_those_that_exist(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    write_last_checkpoint(str(work), str(work / 'iter_4.pth'))
    for name in ('iter_2.pth', 'iter_10.pth', 'best_mIoU_iter_2.pth',
                 'notes.txt'):
        (work / name).write_bytes(b'')
    assert training_checkpoints(str(work)) == [
        str(work / 'iter_10.pth'), str(work / 'iter_2.pth')]
    with pytest.raises(MissingCheckpointError) as err:
        checked_checkpoint_to_resume(str(work))
    assert str(err.value) == (
        f'--resume: {work}/last_checkpoint names {work}/iter_4.pth, which '
        f'does not exist (deleted or moved); the checkpoints in {work} are '
        'iter_10.pth, iter_2.pth: resume from the latest with --resume '
        f'{work}/iter_10.pth (or start anew without --resume)')
    # the Runner's own reading refuses it the same way, before its log line
    with pytest.raises(MissingCheckpointError, match='iter_4.pth, which'):
        checkpoint_to_resume(str(work), None, None)
    for name in ('iter_2.pth', 'iter_10.pth'):
        (work / name).unlink()
    with pytest.raises(MissingCheckpointError,
                       match='holds no other training checkpoint: train '
                       'from the beginning without --resume'):
        checked_checkpoint_to_resume(str(work))
    (work / 'iter_4.pth').write_bytes(b'')
    assert checked_checkpoint_to_resume(str(work)) == str(work / 'iter_4.pth')
