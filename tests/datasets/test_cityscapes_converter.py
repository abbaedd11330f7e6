"""Label conversion writes every file crash-safely (fsync, rename)."""
import errno
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from emanet.datasets.cityscapes_converter import (
    convert_cityscapes,
    convert_label_file,
    label_ids_to_train_ids,
    write_split_lists,
)

# label id -> train id: 7 road, 26 car, 1 ego vehicle (void).
LABEL_IDS = np.array([[7, 7, 26], [26, 1, 7]], np.uint8)
TRAIN_IDS = np.array([[0, 0, 13], [13, 255, 0]], np.uint8)


def _frame(root: Path, split: str, city: str, frame: int) -> str:
    folder = root / 'gtFine' / split / city
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f'{city}_000000_{frame:06d}_gtFine_labelIds.png'
    cv2.imwrite(str(path), LABEL_IDS)
    return str(path)


def _all_files(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob('*')
                  if p.is_file())


def test_label_ids_to_train_ids():
    np.testing.assert_array_equal(label_ids_to_train_ids(LABEL_IDS),
                                  TRAIN_IDS)


def test_convert_tree_and_split_lists(tmp_path):
    _frame(tmp_path, 'train', 'a', 19)
    _frame(tmp_path, 'train', 'b', 19)
    _frame(tmp_path, 'val', 'c', 38)
    targets = convert_cityscapes(str(tmp_path), progress=False)
    assert [os.path.basename(t) for t in targets] == [
        'a_000000_000019_gtFine_labelTrainIds.png',
        'b_000000_000019_gtFine_labelTrainIds.png',
        'c_000000_000038_gtFine_labelTrainIds.png']
    for target in targets:
        np.testing.assert_array_equal(
            cv2.imread(target, cv2.IMREAD_UNCHANGED), TRAIN_IDS)
    assert (tmp_path / 'train.txt').read_bytes() == \
        b'a/a_000000_000019\nb/b_000000_000019\n'
    assert (tmp_path / 'val.txt').read_bytes() == b'c/c_000000_000038\n'
    # Hidden temporary files are all renamed away.
    assert not [f for f in _all_files(tmp_path) if '.tmp' in f]


def test_every_file_is_fsynced_before_its_rename(tmp_path, monkeypatch):
    source = _frame(tmp_path, 'val', 'c', 38)
    synced, renamed = [], []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(fd):
        synced.append(os.fstat(fd).st_ino)
        return fsync(fd)

    def logged_replace(src, dst):
        assert os.stat(src).st_ino in synced, 'renamed before fsync'
        renamed.append(dst)
        return replace(src, dst)

    monkeypatch.setattr(os, 'fsync', logged_fsync)
    monkeypatch.setattr(os, 'replace', logged_replace)
    target = convert_label_file(source)
    write_split_lists(str(tmp_path / 'gtFine'), str(tmp_path))
    assert renamed == [target, str(tmp_path / 'val.txt')]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path,
                                                             monkeypatch):
    source = _frame(tmp_path, 'val', 'c', 38)
    target = convert_label_file(source)
    before = _all_files(tmp_path)
    old = Path(target).read_bytes()
    cv2.imwrite(source, np.full_like(LABEL_IDS, 26))  # all cars now

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space left'):
        convert_label_file(source)
    with pytest.raises(OSError, match='No space left'):
        write_split_lists(str(tmp_path / 'gtFine'), str(tmp_path))
    assert Path(target).read_bytes() == old
    assert _all_files(tmp_path) == before
