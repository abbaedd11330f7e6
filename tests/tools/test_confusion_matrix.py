"""tools/analysis_tools/confusion_matrix.py against tools/test.py.

The tiny config is trained 2 iterations; tools/test.py writes its
prediction PNGs and per-class table, and the confusion matrix of the same
PNGs must give that table's Acc (its diagonal) and IoU.
"""
import csv
import json

import cv2
import numpy as np
import pytest

from emanet.utils.errors import run_tool

from helpers.run_records import read_test_record
from helpers.tool_loader import load_tool

TOOL = 'tools/analysis_tools/confusion_matrix.py'


@pytest.fixture(scope='module')
def tested(tmp_path_factory, tiny_trained):
    """Config, checkpoint, prediction dir and tools/test.py's record."""
    config, ckpt = tiny_trained
    work = tmp_path_factory.mktemp('test')
    preds = work / 'preds'
    load_tool('tools/test.py').main([config, ckpt, '--work-dir', str(work),
                                     '--out', str(preds)])
    record = read_test_record(work)
    return config, ckpt, str(preds), record


def _close(ours, theirs):
    """Percentages equal to 0.01; None (NaN) where theirs is None."""
    for mine, table in zip(ours, theirs):
        if table is None:
            assert mine is None or np.isnan(mine)
        else:
            assert mine == pytest.approx(table, abs=0.01)


@pytest.mark.slow
def test_diagonal_and_iou_equal_test_py_table(tested, tmp_path, capsys):
    config, _, preds, record = tested
    save = tmp_path / 'cm'
    result = load_tool(TOOL).main([config, preds, str(save), '--title',
                                   'tiny', '--color-theme', 'Blues'])
    per_class = record['per_class']
    assert result['classes'] == per_class['Class']
    counts = result['counts']
    with np.errstate(invalid='ignore', divide='ignore'):
        diag = np.diag(counts) / counts.sum(1) * 100
        iou = np.diag(counts) / (counts.sum(0) + counts.sum(1)
                                 - np.diag(counts)) * 100
    _close(diag, per_class['Acc'])
    _close(iou, per_class['IoU'])
    # the saved files hold the same numbers
    saved = json.loads((save / 'confusion_matrix.json').read_text())
    assert saved['counts'] == counts.tolist()
    _close(saved['Acc'], per_class['Acc'])
    _close([saved['normalized'][i][i] for i in range(19)], per_class['Acc'])
    _close(saved['IoU'], per_class['IoU'])
    assert np.nanmean(iou) == pytest.approx(record['metrics']['mIoU'],
                                            abs=0.01)
    with open(save / 'confusion_matrix.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == per_class['Class']
    assert [[int(v) for v in row[1:]] for row in rows[1:]] == \
        counts.tolist()
    # every labelled pixel of the 2 val images is counted once
    assert counts.sum() == sum(
        int((cv2.imread(p, cv2.IMREAD_UNCHANGED) != 255).sum())
        for p in _label_files(config))
    picture = cv2.imread(str(save / 'confusion_matrix.png'))
    assert picture.shape[0] >= 19 * 40
    out = capsys.readouterr().out
    assert f'mIoU: {record["metrics"]["mIoU"]:.2f} (from the counts)' in out


def _label_files(config):
    from mmengine.registry import init_default_scope

    from emanet.config import load_config
    from emanet.registry import DATASETS
    init_default_scope('emanet')
    cfg = load_config(config)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    return [dataset.get_data_info(i)['seg_map_path']
            for i in range(len(dataset))]


@pytest.mark.slow
def test_checkpoint_mode_gives_the_same_counts_and_pngs(tested, tmp_path):
    config, ckpt, preds, _ = tested
    tool = load_tool(TOOL)
    from_pngs = tool.main([config, preds, str(tmp_path / 'a')])
    own = tmp_path / 'own_preds'
    from_model = tool.main([config, str(own), str(tmp_path / 'b'),
                            '--checkpoint', ckpt, '--device', 'cpu'])
    np.testing.assert_array_equal(from_model['counts'], from_pngs['counts'])
    for name in sorted(p.name for p in own.iterdir()):
        np.testing.assert_array_equal(
            cv2.imread(str(own / name), cv2.IMREAD_UNCHANGED),
            cv2.imread(f'{preds}/{name}', cv2.IMREAD_UNCHANGED))


@pytest.mark.slow
def test_bad_input_is_one_error_line(tested, tmp_path, capsys):
    config, ckpt, preds, _ = tested
    tool = load_tool(TOOL)
    save = str(tmp_path / 'cm')
    missing = str(tmp_path / 'none')
    cases = [
        ([config, missing, save],
         f'error: prediction folder {missing} does not exist; write it with '
         f'`python tools/test.py CONFIG CHECKPOINT --out {missing}` or pass '
         '--checkpoint'),
        ([config, preds, save, '--color-theme', 'wintr'],
         "error: --color-theme 'wintr' is not a matplotlib colour map (e.g. "
         'winter, Blues, viridis); did you mean winter'),
        ([config, preds, save, '--checkpoint', missing],
         f'error: checkpoint {missing} does not exist'),
        ([config, str(tmp_path / 'p'), save, '--checkpoint', config],
         None),  # a config is not a checkpoint
        ([config, str(tmp_path / 'p'), save, '--checkpoint', ckpt,
          '--device', 'tpu'], None),
    ]
    for argv, message in cases:
        assert run_tool(tool.main, argv) == 1, argv
        last = capsys.readouterr().err.splitlines()[-1]
        assert last.startswith('error: ') and 'Traceback' not in last
        if message is not None:
            assert last.startswith(message)
    # an empty folder: the first missing PNG is named
    (tmp_path / 'empty').mkdir()
    assert run_tool(tool.main, [config, str(tmp_path / 'empty'), save]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f'error: prediction {tmp_path}/empty/testburg_')
    assert last.endswith('_leftImg8bit.png does not exist; write the '
                         'predictions with `python tools/test.py CONFIG '
                         'CHECKPOINT --out DIR` (without --format-only) or '
                         'pass --checkpoint')
