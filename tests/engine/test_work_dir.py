"""Work dirs that cannot be written, and writes that failed, in one line."""
import errno
import os

import pytest

import emanet.utils.output_paths as output_paths
from emanet.engine.work_dir import (
    check_work_dir,
    claim_log_dir,
    write_error,
)
from emanet.utils.errors import UserError, WorkDirError

from helpers.engine_toy import make_runner


def test_work_dir_is_created_and_probe_removed(tmp_path):
    path = tmp_path / 'a' / 'b'
    check_work_dir(str(path), '--work-dir')
    assert path.is_dir() and os.listdir(path) == []


def test_unusable_work_dir_is_named(tmp_path, monkeypatch):
    a_file = tmp_path / 'a_file'
    a_file.write_text('')
    for path in (a_file, a_file / 'below'):
        with pytest.raises(WorkDirError) as err:
            check_work_dir(str(path), '--work-dir')
        assert str(err.value).startswith(
            f'Cannot use the work dir {path} (set by --work-dir): a file, '
            'not a folder, has that name (or one above it)')
        assert str(err.value).endswith(
            f'Choose a writable folder with --work-dir, or fix {path}.')
        # The runner checks before it builds anything.
        with pytest.raises(WorkDirError) as err:
            make_runner(path)
        assert str(err.value).startswith(
            f'Cannot use the work dir {path} (set by --work-dir or work_dir '
            'in the config): a file, not a folder, has that name (or one '
            'above it)')
    # Root may write anywhere, so a folder without write permission is
    # simulated: every file opened in the work dir is refused.
    locked = tmp_path / 'locked'

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied', path)

    monkeypatch.setattr(output_paths, 'open', refuse, raising=False)
    with pytest.raises(WorkDirError, match=f'Cannot use the work dir '
                       f'{locked} .* no permission to write there'):
        make_runner(locked)


def test_write_error_names_file_and_previous_checkpoint():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    err = write_error('/wd/iter_4.pth', full, '/wd/iter_2.pth')
    assert isinstance(err, WorkDirError) and isinstance(err, UserError)
    assert str(err) == (
        'Could not write /wd/iter_4.pth: the disk is full (or the quota is '
        'used up) [[Errno 28] No space left on device]. The previous '
        'checkpoint /wd/iter_2.pth is intact and named in last_checkpoint. '
        'Free space there or choose another folder (--work-dir, or '
        'work_dir in the config), then continue with --resume.')
    assert 'No earlier checkpoint of this run exists.' in str(
        write_error('/wd/iter_2.pth', full, None))


def test_log_folders_are_claimed_once(tmp_path):
    """Runs of one second get folders of their own, in the order they
    claim them; the work dir is created when missing."""
    work = tmp_path / 'work'
    names = [claim_log_dir(str(work), '20260101_000000') for _ in range(3)]
    assert names == ['20260101_000000', '20260101_000000_1',
                     '20260101_000000_2']
    assert sorted(os.listdir(work)) == names
    assert claim_log_dir(str(work), '20260101_000001') == '20260101_000001'
