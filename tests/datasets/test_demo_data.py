"""The generated demo data set: layout, labels, determinism, atomicity;
the data sets only read it.

Finding the demo data sets of a config and generating them before a
tool runs (one rank per machine): tests/apis/test_tool_run.py.
"""
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import emanet.datasets.demo_data as demo_data
from emanet.datasets import CityscapesDemoDataset
from emanet.datasets.demo_data import (
    ensure_demo_data,
    generate_demo_data,
    is_demo_data,
    wait_for_demo_data,
)
from emanet.registry import DATASETS
from emanet.utils.errors import DataRootError, MissingDataError

from helpers.tool_loader import REPO

VAL = dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')


def digests(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def test_layout(demo_data_root):
    root = Path(demo_data_root)
    stem = 'demotown/demotown_000000_000019'
    img = cv2.imread(str(root / f'leftImg8bit/train/{stem}_leftImg8bit.png'))
    assert img.shape == (256, 512, 3) and img.dtype == np.uint8
    gt = root / 'gtFine/train'
    label_ids = cv2.imread(str(gt / f'{stem}_gtFine_labelIds.png'),
                           cv2.IMREAD_UNCHANGED)
    assert label_ids.shape == (256, 512) and label_ids.dtype == np.uint8
    # Real Cityscapes ids: road 7, sidewalk 8, building 11, sky 23,
    # ego vehicle 1 (void).
    assert {1, 7, 8, 11, 23} <= set(np.unique(label_ids).tolist())
    inst = cv2.imread(str(gt / f'{stem}_gtFine_instanceIds.png'),
                      cv2.IMREAD_UNCHANGED)
    assert inst.dtype == np.uint16
    np.testing.assert_array_equal(np.where(inst >= 1000, inst // 1000, inst),
                                  label_ids)
    poly = json.loads((gt / f'{stem}_gtFine_polygons.json').read_text())
    assert (poly['imgHeight'], poly['imgWidth']) == (256, 512)
    assert {'label', 'polygon'} <= set(poly['objects'][0])
    assert all(len(p) == 2 for o in poly['objects'] for p in o['polygon'])
    assert (gt / f'{stem}_gtFine_labelTrainIds.png').is_file()
    assert len((root / 'train.txt').read_text().split()) == 4
    assert len(list((root / 'leftImg8bit/val').rglob('*.png'))) == 2


def test_same_seed_same_bytes(demo_data_root, tmp_path):
    again = generate_demo_data(str(tmp_path / 'again'), 4, 2, seed=0)
    assert digests(Path(again)) == digests(Path(demo_data_root))


def test_ensure_generates_once(tmp_path):
    root = str(tmp_path / 'demo')
    assert ensure_demo_data(root, 1, 1) and is_demo_data(root)
    stamp = os.stat(os.path.join(root, 'train.txt')).st_mtime_ns
    assert not ensure_demo_data(root, 1, 1)
    assert os.stat(os.path.join(root, 'train.txt')).st_mtime_ns == stamp
    # No temporary folder is left next to it.
    assert os.listdir(tmp_path) == ['demo']


def test_ensure_refuses_foreign_folder(tmp_path):
    (tmp_path / 'x').mkdir()
    (tmp_path / 'x' / 'mine.txt').write_text('keep')
    with pytest.raises(DataRootError) as error:
        ensure_demo_data(str(tmp_path / 'x'))
    message = str(error.value)
    assert str(tmp_path / 'x') in message and '\n' not in message
    assert 'dataset.type=CityscapesDataset' in message
    assert os.listdir(tmp_path / 'x') == ['mine.txt']
    # The data set says the same.
    with pytest.raises(DataRootError) as error:
        CityscapesDemoDataset(data_root=str(tmp_path / 'x'))
    assert str(error.value) == message


def test_demo_type_uses_own_cityscapes_layout_data(tmp_path):
    root = str(tmp_path / 'own')
    generate_demo_data(root, num_train=2, num_val=1)
    os.remove(os.path.join(root, 'demo_info.json'))  # not demo data now
    files = sorted(p for p in Path(root).rglob('*') if p.is_file())
    assert not ensure_demo_data(root)
    dataset = CityscapesDemoDataset(
        data_root=root, data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'))
    assert len(dataset) == 2
    assert dataset[0]['img_path'].startswith(root)
    # Used as it is: nothing generated or changed.
    assert sorted(p for p in Path(root).rglob('*') if p.is_file()) == files
    assert not is_demo_data(root)


@pytest.mark.parametrize('empty_folder', [False, True])
def test_data_set_only_reads(tmp_path, empty_folder):
    root = tmp_path / 'cityscapes_demo'
    if empty_folder:
        root.mkdir()
    with pytest.raises(MissingDataError) as error:
        DATASETS.build(dict(type='CityscapesDemoDataset',
                            data_root=str(root), data_prefix=VAL))
    message = str(error.value)
    assert '\n' not in message
    assert f'python tools/misc/make_demo_data.py --out {root}' in message
    assert 'tools/train.py' in message
    # Nothing written: no data set, no temporary folder.
    assert os.listdir(tmp_path) == (['cityscapes_demo'] if empty_folder
                                    else [])
    assert not empty_folder or os.listdir(root) == []


def test_wait_for_demo_data(tmp_path):
    root = str(tmp_path / 'cityscapes_demo')
    with pytest.raises(MissingDataError) as error:
        wait_for_demo_data(root, timeout=0.2)
    assert str(error.value) == (
        f'no demo data set at {root} after waiting 0 s for local rank 0 to '
        'generate it; generate it first with `python '
        f'tools/misc/make_demo_data.py --out {root}`')
    assert not os.path.exists(root)  # waiting never generates

    def other_process():
        time.sleep(0.3)
        generate_demo_data(root, 1, 1)

    thread = threading.Thread(target=other_process)
    thread.start()
    try:
        wait_for_demo_data(root, timeout=120)
    finally:
        thread.join()
    assert is_demo_data(root)


def test_killed_generation_leaves_no_temporary_folder(tmp_path):
    """SIGKILL cannot be caught: the next generation removes the folder
    of the dead process, and leaves that of a live one alone."""
    import signal
    import subprocess
    import sys
    script = (
        'import os, signal\n'
        'import emanet.datasets.demo_data as d\n'
        'd.convert_cityscapes = lambda *a, **k: os.kill(os.getpid(), '
        'signal.SIGKILL)\n'
        f'd.generate_demo_data({str(tmp_path / "demo")!r}, 1, 1)\n')
    proc = subprocess.Popen([sys.executable, '-c', script], cwd=REPO,
                            stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(f'.demo.tmp-{proc.pid}-')
    live = tmp_path / f'.demo.tmp-{os.getppid()}-abc123'
    live.mkdir()
    generate_demo_data(str(tmp_path / 'demo'), 1, 1)
    assert sorted(os.listdir(tmp_path)) == [live.name, 'demo']


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    """An error mid-generation leaves neither the data set nor a
    temporary folder; the next generation starts afresh."""
    def full_disk(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    with monkeypatch.context() as patch:
        patch.setattr(demo_data, 'convert_cityscapes', full_disk)
        with pytest.raises(OSError, match='No space left'):
            generate_demo_data(str(tmp_path / 'demo'), 1, 1)
    assert os.listdir(tmp_path) == []
    generate_demo_data(str(tmp_path / 'demo'), 1, 1)
    assert os.listdir(tmp_path) == ['demo']
    assert is_demo_data(str(tmp_path / 'demo'))
