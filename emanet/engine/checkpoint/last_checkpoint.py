"""The last complete checkpoint, and its record in the work dir.

One notion: the latest training checkpoint written completely (renamed into
place), or the one the run resumed from. The run holds it in its message
hub under mmengine's ``last_ckpt`` key (kept in checkpoints), read through
:func:`last_saved_checkpoint` and set only by :func:`record_checkpoint`,
which also names it in ``<work_dir>/last_checkpoint``: the record
``--resume`` without a path reads (:func:`read_last_checkpoint`).

The file names the checkpoint relative to the work dir, so a work dir that
is copied or moved (another disk, another machine, a cluster's scratch)
resumes from its own checkpoint, never from the folder it came from. Files
that hold an absolute path are still read.
"""
import os
import os.path as osp
import re
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.logging import print_log

from emanet.engine.work_dir import write_error
from emanet.utils.atomic_io import atomic_write_text
from emanet.utils.errors import CheckpointError, MissingCheckpointError

RECORD = 'last_checkpoint'
# The training checkpoints CheckpointHook names (best_*.pth lack the
# optimizer state that resuming needs).
_TRAINING_CHECKPOINT = re.compile(r'^(iter|epoch)_(\d+)\.pth$')
#: The message hub's runtime-info key of the last complete checkpoint
#: (mmengine's CheckpointHook's own key).
LAST_CKPT = 'last_ckpt'


def last_saved_checkpoint(runner) -> Optional[str]:
    """The run's last complete checkpoint, if any.

    Args:
        runner: the Runner (its ``message_hub``).
    """
    return runner.message_hub.get_info(LAST_CKPT)


def record_checkpoint(runner, checkpoint: str, resumed: bool = False) -> None:
    """Make ``checkpoint`` the run's last complete checkpoint.

    Called on every rank once the file is written (or resumed from). Rank 0
    first names a written checkpoint in ``<work_dir>/last_checkpoint``
    (crash-safe), so a failure leaves the previous one named there.

    Args:
        runner: the Runner (``work_dir``, ``message_hub``).
        checkpoint (str): the checkpoint's path.
        resumed (bool): ``checkpoint`` is the one the run resumed from: the
            work dir's record is left as it is.

    Raises:
        WorkDirError: the record cannot be written; the message names the
            previous checkpoint, which the record still names.
    """
    if not resumed and is_main_process():
        try:
            write_last_checkpoint(runner.work_dir, checkpoint)
        except OSError as err:
            raise write_error(osp.join(runner.work_dir, RECORD), err,
                              last_saved_checkpoint(runner)) from err
    runner.message_hub.update_info(LAST_CKPT, checkpoint)


def write_last_checkpoint(work_dir: str, checkpoint: str) -> str:
    """Record ``checkpoint`` as the one to resume from, crash-safe.

    Args:
        work_dir (str): The run's work dir.
        checkpoint (str): The checkpoint just written; named relative to
            ``work_dir`` when it lies inside it (the default), else as
            given (a ``CheckpointHook(out_dir=...)`` elsewhere).

    Returns:
        str: The path of the record file.
    """
    record = osp.join(work_dir, RECORD)
    name = checkpoint
    if '://' not in checkpoint:
        relative = osp.relpath(osp.abspath(checkpoint), osp.abspath(work_dir))
        if not relative.startswith(osp.pardir):
            name = relative
    atomic_write_text(record, name)
    return record


def _inside(path: str, folder: str) -> bool:
    relative = osp.relpath(osp.abspath(path), osp.abspath(folder))
    return not relative.startswith(osp.pardir)


def checkpoint_dir_of(work_dir: str, out_dir: Optional[str]) -> Optional[str]:
    """Where ``CheckpointHook(out_dir=...)`` writes: ``<out_dir>/<work dir
    name>``; None for the work dir itself (no ``out_dir``)."""
    if not out_dir:
        return None
    return osp.join(out_dir, osp.basename(work_dir.rstrip(osp.sep)))


def training_checkpoints(folder: str) -> List[str]:
    """The ``iter_<n>.pth`` / ``epoch_<n>.pth`` files of ``folder``,
    latest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [(m.group(1), int(m.group(2)), name) for name in names
             for m in [_TRAINING_CHECKPOINT.match(name)] if m]
    return [osp.join(folder, name) for _, _, name in sorted(found,
                                                            reverse=True)]


def checked_checkpoint_to_resume(work_dir: str,
                                 out_dir: Optional[str] = None
                                 ) -> Optional[str]:
    """:func:`read_last_checkpoint`, refused when the file is gone.

    Checked before the Runner is built (``tools/train.py --resume``), so a
    deleted checkpoint is one line before the environment is logged and
    before a run folder is made.

    Args:
        work_dir (str): The run's work dir.
        out_dir (str, optional): ``CheckpointHook``'s ``out_dir``.

    Returns:
        str | None: The checkpoint to resume from (it exists, or is a URL),
        or None without a record.

    Raises:
        MissingCheckpointError: The record names a file that does not
            exist; the message names the training checkpoints that do and
            how to resume from one.
        CheckpointError: See :func:`read_last_checkpoint`.
    """
    checkpoint = read_last_checkpoint(
        work_dir, checkpoint_dir_of(work_dir, out_dir))
    if checkpoint is None or '://' in checkpoint or osp.isfile(checkpoint):
        return checkpoint
    folder = osp.dirname(checkpoint) or '.'
    found = training_checkpoints(folder)
    if found:
        names = ', '.join(osp.basename(path) for path in found)
        what = (f'the checkpoints in {folder} are {names}: resume from the '
                f'latest with --resume {found[0]} (or start anew without '
                '--resume)')
    else:
        what = (f'{folder} holds no other training checkpoint: train from '
                'the beginning without --resume, or in another --work-dir')
    raise MissingCheckpointError(
        f'--resume: {osp.join(work_dir, RECORD)} names {checkpoint}, which '
        f'does not exist (deleted or moved); {what}')


def checkpoint_to_resume(work_dir: str, out_dir: Optional[str],
                         logger) -> Optional[str]:
    """The checkpoint ``--resume`` without a path continues from.

    One log line says which, or that training starts from the beginning.

    Args:
        work_dir (str): The run's work dir.
        out_dir (str, optional): ``CheckpointHook``'s ``out_dir`` as
            configured (checkpoints go to ``<out_dir>/<work dir name>``).
        logger: the Runner's logger.

    Returns:
        str | None: see :func:`checked_checkpoint_to_resume`.
    """
    checkpoint = checked_checkpoint_to_resume(work_dir, out_dir)
    if checkpoint is None:
        logger.info(f'No last_checkpoint in {work_dir}: training starts '
                    'from the beginning.')
    else:
        logger.info(f'Auto resumed from the latest checkpoint {checkpoint}.')
    return checkpoint


def read_last_checkpoint(work_dir: str,
                         checkpoint_dir: Optional[str] = None
                         ) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    Args:
        work_dir (str): The run's work dir.
        checkpoint_dir (str, optional): Where the run writes checkpoints
            when not in the work dir (``CheckpointHook(out_dir=...)``).

    Returns:
        str | None: The checkpoint path, or None when the work dir has no
        record (a new run).

    Raises:
        CheckpointError: The record names an absolute path outside the work
            dir (and outside ``checkpoint_dir``) that the work dir has no
            copy of: the work dir was moved from a run whose checkpoint
            is elsewhere, and resuming from it must be asked for by path.
    """
    record = osp.join(work_dir, RECORD)
    if not osp.isfile(record):
        return None
    with open(record, encoding='utf-8') as f:
        name = f.read().strip()
    if not name or '://' in name:
        return name or None
    if not osp.isabs(name):
        return osp.join(work_dir, name)
    if _inside(name, work_dir) or (checkpoint_dir is not None
                                   and _inside(name, checkpoint_dir)):
        return name
    # An absolute record written before names were relative, in a work
    # dir copied or moved since: its own copy of the file is the one.
    local = osp.join(work_dir, osp.basename(name))
    if osp.isfile(local):
        print_log(f'{record} names {name}, outside this work dir; resuming '
                  f'from this work dir\'s copy {local}.', logger='current')
        return local
    raise CheckpointError(
        f'{record} names {name}, outside the work dir {work_dir}, which has '
        f'no copy of it; to resume from that file, pass --resume {name}')
