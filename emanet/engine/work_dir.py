"""Work-dir checks and the one-line errors of writes that failed."""
import errno
import os
import os.path as osp
from typing import Optional

from emanet.utils.atomic_io import tmp_path_for
from emanet.utils.errors import WorkDirError


def os_reason(err: OSError) -> str:
    """What an ``OSError`` of a write means, in words."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return 'the disk is full (or the quota is used up)'
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 'no permission to write there (or a read-only file system)'
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        return 'a file, not a folder, has that name (or one above it)'
    return err.strerror or str(err)


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
        probe = tmp_path_for(osp.join(path, 'write-test'))
        with open(probe, 'wb') as f:
            f.write(b'0')
        os.remove(probe)
    except OSError as err:
        raise WorkDirError(
            f'Cannot use the work dir {path} (set by {option}): '
            f'{os_reason(err)} [{type(err).__name__}: {err}]. Choose a '
            f'writable folder with --work-dir, or fix {path}.') from err


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
