"""``<work_dir>/last_checkpoint``: which checkpoint ``--resume`` continues.

The file names the checkpoint relative to the work dir, so a work dir that
is copied or moved (another disk, another machine, a cluster's scratch)
resumes from its own checkpoint, never from the folder it came from. Files
that hold an absolute path are still read.
"""
import os.path as osp
from typing import Optional

from mmengine.logging import print_log

from emanet.utils.atomic_io import atomic_write_text
from emanet.utils.errors import CheckpointError

RECORD = 'last_checkpoint'


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
