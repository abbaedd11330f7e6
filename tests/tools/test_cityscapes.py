"""tools/dataset_converters/cityscapes.py on the generated demo data."""
import hashlib
import importlib.util
import os
import os.path as osp
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from emanet.datasets.cityscapes_labels import id_to_train_id_table

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    path = ROOT / 'tools' / 'dataset_converters' / 'cityscapes.py'
    spec = importlib.util.spec_from_file_location('cs_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_labels(demo_root: str, dst: Path, keep: str) -> Path:
    """Copy gtFine with only the ``keep`` source files (no trainIds)."""
    shutil.copytree(
        osp.join(demo_root, 'gtFine'), dst / 'gtFine',
        ignore=lambda d, names: [
            n for n in names
            if osp.isfile(osp.join(d, n)) and not n.endswith(keep)
        ])
    return dst


def digests(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def train_id_files(root: Path) -> list:
    return sorted(root.rglob('*_gtFine_labelTrainIds.png'))


def test_label_ids_input(demo_data_root, tmp_path, capsys):
    root = copy_labels(demo_data_root, tmp_path, '_gtFine_labelIds.png')
    assert load_tool().main([str(root), '--nproc', '2']) == 0
    outs = train_id_files(root)
    assert len(outs) == 6
    table = id_to_train_id_table()
    for out in outs:
        src = str(out).replace('labelTrainIds', 'labelIds')
        train_ids = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert train_ids.dtype == np.uint8 and train_ids.ndim == 2
        np.testing.assert_array_equal(train_ids,
                                      table[cv2.imread(src, 0)])
        assert set(np.unique(train_ids)) <= set(range(19)) | {255}
    # The demo scenes hold void pixels (ego vehicle) → 255.
    assert (cv2.imread(str(outs[0]), 0) == 255).any()
    assert 'Wrote 6 labelTrainIds' in capsys.readouterr().out


def test_split_lists_and_idempotent(demo_data_root, tmp_path):
    root = copy_labels(demo_data_root, tmp_path, '_gtFine_labelIds.png')
    tool = load_tool()
    assert tool.main([str(root)]) == 0
    first = digests(root)
    assert (root / 'train.txt').read_text().splitlines() == [
        'demotown/demotown_000000_000019',
        'demotown/demotown_000000_000038',
        'sampleville/sampleville_000000_000019',
        'sampleville/sampleville_000000_000038',
    ]
    assert (root / 'val.txt').read_text().splitlines() == [
        'testburg/testburg_000000_000019', 'testburg/testburg_000000_000038'
    ]
    assert not (root / 'test.txt').exists()  # no gtFine/test folder
    assert tool.main([str(root), '--out-dir', str(root)]) == 0
    assert digests(root) == first
    leftovers = [n for _, _, f in os.walk(root) for n in f if '.tmp' in n]
    assert leftovers == []


def test_polygons_input_matches_label_ids(demo_data_root, tmp_path):
    pytest.importorskip('cityscapesscripts')
    root = copy_labels(demo_data_root, tmp_path, '_gtFine_polygons.json')
    assert load_tool().main([str(root), '--out-dir',
                             str(tmp_path / 'lists')]) == 0
    outs = train_id_files(root)
    assert len(outs) == 6
    for out in outs:
        rel = out.relative_to(root)
        expected = cv2.imread(osp.join(demo_data_root, rel), 0)
        np.testing.assert_array_equal(cv2.imread(str(out), 0), expected)
    assert (tmp_path / 'lists' / 'val.txt').read_text().count('\n') == 2


def test_missing_labels_message(tmp_path, capsys):
    assert load_tool().main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / 'gtFine') in err and '_gtFine_labelIds.png' in err


def test_polygons_without_cityscapesscripts(demo_data_root, tmp_path,
                                            monkeypatch, capsys):
    import sys
    root = copy_labels(demo_data_root, tmp_path, '_gtFine_polygons.json')
    monkeypatch.setitem(sys.modules, 'cityscapesscripts.helpers.annotation',
                        None)
    assert load_tool().main([str(root)]) == 1
    err = capsys.readouterr().err
    assert 'pip install cityscapesscripts' in err
    assert '.[cityscapes]' in err and '_polygons.json' in err
