"""The one output path check: each bad path is one line naming the option
and the path, and the check leaves nothing behind."""
import errno
import os

import pytest

from emanet.utils.errors import OutputPathError, UserError
from emanet.utils.output_paths import (
    check_output_dir,
    check_output_file,
    os_reason,
)

# A pseudo file system where nothing can be created, even by root.
READ_ONLY = '/proc/emanet-output-test'


@pytest.fixture
def places(tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    folder = tmp_path / 'folder'
    folder.mkdir()
    return tmp_path, str(a_file), str(folder)


def test_writable_paths_pass_and_nothing_is_created(places):
    tmp, _, folder = places
    before = sorted(os.listdir(tmp))
    assert check_output_file(str(tmp / 'new' / 'deep' / 'm.onnx'), '--o',
                             suffixes=('.onnx', )) .endswith('m.onnx')
    check_output_file(os.path.join(folder, 'existing.json'), '--o')
    check_output_dir(str(tmp / 'new' / 'deep'), '--o')
    check_output_dir(folder, '--o')
    assert sorted(os.listdir(tmp)) == before
    assert os.listdir(folder) == []


@pytest.mark.parametrize('case, expected', [
    ('file under a file', '--o {a_file}/x.json: {a_file} is a file, not a '
     'folder; choose a path under a folder'),
    ('folder as file', '--o {folder} is a folder; give a file path'),
    ('read-only place', '--o {read_only}/x.json: cannot write in /proc: '),
    ('unknown suffix', '--o {tmp}/x.bmpx: unknown file type .bmpx; use one '
     'of .json, .png'),
    ('missing folder', '--o {tmp}/no/x.json: folder {tmp}/no does not '
     'exist'),
])
def test_bad_output_files_are_one_line(places, case, expected):
    tmp, a_file, folder = places
    path = {'file under a file': f'{a_file}/x.json',
            'folder as file': folder,
            'read-only place': f'{READ_ONLY}/x.json',
            'unknown suffix': f'{tmp}/x.bmpx',
            'missing folder': f'{tmp}/no/x.json'}[case]
    with pytest.raises(OutputPathError) as err:
        check_output_file(path, '--o', suffixes=(
            ('.png', '.json') if case == 'unknown suffix' else None),
            folder_must_exist=case == 'missing folder')
    message = str(err.value)
    assert isinstance(err.value, UserError) and '\n' not in message
    assert message.startswith(expected.format(
        a_file=a_file, folder=folder, read_only=READ_ONLY, tmp=tmp))


@pytest.mark.parametrize('case', ['file', 'under a file', 'read-only'])
def test_bad_output_dirs_are_one_line(places, case):
    _, a_file, _ = places
    path = {'file': a_file, 'under a file': f'{a_file}/sub',
            'read-only': READ_ONLY}[case]
    with pytest.raises(OutputPathError) as err:
        check_output_dir(path, '--show-dir')
    message = str(err.value)
    assert message.startswith(f'--show-dir {path}') and '\n' not in message
    if case == 'file':
        assert message.endswith('is a file, not a folder; give a folder')
    if case == 'read-only':
        assert 'cannot write in /proc' in message


def test_a_folder_where_writes_fail_is_named(places, monkeypatch):
    """Root writes anywhere: a folder without permission is simulated."""
    import emanet.utils.output_paths as output_paths
    _, _, folder = places

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied', path)

    monkeypatch.setattr(output_paths, 'open', refuse, raising=False)
    with pytest.raises(OutputPathError, match='no permission to write'):
        check_output_dir(os.path.join(folder, 'out'), '--out')


@pytest.mark.parametrize('code, reason', [
    (errno.ENOSPC, 'the disk is full (or the quota is used up)'),
    (errno.EDQUOT, 'the disk is full (or the quota is used up)'),
    (errno.EROFS, 'no permission to write there (or a read-only file '
     'system)'),
    (errno.ENOTDIR, 'a file, not a folder, has that name (or one above '
     'it)'),
    (errno.ENOENT, 'files cannot be created there (not a regular file '
     'system)'),
    (errno.EIO, os.strerror(errno.EIO)),
])
def test_os_reason_in_words(code, reason):
    assert os_reason(OSError(code, os.strerror(code))) == reason
