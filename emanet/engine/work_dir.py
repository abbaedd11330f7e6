"""Work-dir checks, the run's own log folder, and the one-line errors of
writes that failed."""
import os
import os.path as osp
from typing import Optional

from emanet.utils.errors import WorkDirError
from emanet.utils.output_paths import os_reason, probe_folder


def check_work_dir(path: str, option: str) -> None:
    """Create ``path`` if needed and make sure files can be written in it.

    Args:
        path (str): The work dir.
        option (str): What set it, named in the message (``'--work-dir'``,
            ``'work_dir in configs/x.py'`` ...).

    Raises:
        WorkDirError: One line with the path, the option, the reason and
            what to do.
    """
    try:
        os.makedirs(path, exist_ok=True)
        probe_folder(path)
    except OSError as err:
        raise WorkDirError(
            f'Cannot use the work dir {path} (set by {option}): '
            f'{os_reason(err)} [{type(err).__name__}: {err}]. Choose a '
            f'writable folder with --work-dir, or fix {path}.') from err


def claim_log_dir(work_dir: str, timestamp: str) -> str:
    """Create the run's log folder ``<work_dir>/<name>`` for this run only.

    Runs started in the same second have the same timestamp; the folder is
    made with an exclusive ``mkdir``, so the first run gets ``timestamp``
    and the others ``<timestamp>_1``, ``<timestamp>_2``, ...: no two runs
    share a log, a config dump or a record.

    Args:
        work_dir (str): The work dir (created if missing).
        timestamp (str): The run's timestamp, ``%Y%m%d_%H%M%S``.

    Returns:
        str: The folder's name, the run's timestamp from now on.
    """
    os.makedirs(work_dir, exist_ok=True)
    name, count = timestamp, 0
    while True:
        try:
            os.mkdir(osp.join(work_dir, name))
            return name
        except FileExistsError:
            count += 1
            name = f'{timestamp}_{count}'


def shared_log_dir_name(work_dir: str, timestamp: str, rank: int) -> str:
    """The log folder name every rank of one run takes: the one rank 0
    claims (:func:`claim_log_dir`), broadcast to the others."""
    from mmengine.dist import broadcast_object_list
    name = [claim_log_dir(work_dir, timestamp) if rank == 0 else None]
    broadcast_object_list(name)
    return name[0]


def write_error(path: str, err: OSError,
                previous: Optional[str]) -> WorkDirError:
    """The one-line error for a checkpoint (or its bookkeeping) not written.

    Args:
        path (str): The file that could not be written.
        err (OSError): The cause.
        previous (str, optional): The last checkpoint written completely.

    Returns:
        WorkDirError: To be raised by the caller (``from err``).
    """
    kept = (f'The previous checkpoint {previous} is intact and named in '
            'last_checkpoint.' if previous else
            'No earlier checkpoint of this run exists.')
    return WorkDirError(
        f'Could not write {path}: {os_reason(err)} [{err}]. {kept} Free '
        'space there or choose another folder (--work-dir, or work_dir in '
        'the config), then continue with --resume.')
