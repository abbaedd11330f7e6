"""tools/analysis_tools/analyze_logs.py: the logs it finds, the series it
reads and the picture it writes; on the session's tiny training run and
on hand-written logs."""
import json
import os.path as osp

import cv2
import pytest

from emanet.utils.errors import UserError

from helpers.tool_loader import load_tool

TOOL = 'tools/analysis_tools/analyze_logs.py'


def write_log(path, records) -> str:
    """A ``scalars.json`` of ``records`` (one JSON object a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(json.dumps(r) for r in records) + '\n\n')
    return str(path)


@pytest.fixture
def work_dir(tmp_path):
    """A work dir of two runs: training lines, then a validation."""
    work = tmp_path / 'work'
    write_log(work / '20240101_000000' / 'vis_data' / 'scalars.json', [
        {'iter': 1, 'step': 1, 'loss': 2.5, 'lr': 0.01, 'mode': 'train'},
        {'iter': 2, 'step': 2, 'loss': 2.0, 'lr': 0.009},
    ])
    write_log(work / '20240102_000000' / 'vis_data' / 'scalars.json', [
        {'iter': 3, 'step': 3, 'loss': 1.5},
        {'step': 3, 'mIoU': 12.5, 'aAcc': 60.0},
    ])
    return work


def test_log_files_of_a_work_dir_a_run_and_a_file(work_dir):
    tool = load_tool(TOOL)
    runs = tool.find_log_files(str(work_dir))
    assert [osp.relpath(f, work_dir) for f in runs] == [
        '20240101_000000/vis_data/scalars.json',
        '20240102_000000/vis_data/scalars.json']  # oldest first
    run = str(work_dir / '20240102_000000')
    assert tool.find_log_files(run) == runs[1:]
    assert tool.find_log_files(runs[0]) == runs[:1]


def test_a_folder_without_logs_is_one_error(tmp_path):
    with pytest.raises(UserError) as err:
        load_tool(TOOL).find_log_files(str(tmp_path))
    assert str(err.value) == (
        f'no vis_data/scalars.json under {tmp_path}: give a work dir of '
        'tools/train.py or a JSON log file')


def test_series_are_numbers_by_step(work_dir):
    tool = load_tool(TOOL)
    series = tool.load_series(tool.find_log_files(str(work_dir)))
    assert series['loss'] == [(1, 2.5), (2, 2.0), (3, 1.5)]
    assert series['lr'] == [(1, 0.01), (2, 0.009)]
    assert series['mIoU'] == [(3, 12.5)]
    assert 'mode' not in series and 'iter' not in series


def test_main_plots_and_names_missing_keys(work_dir, tmp_path, capsys):
    out = str(tmp_path / 'curves.png')
    series = load_tool(TOOL).main(
        [str(work_dir), '--keys', 'loss', 'mDice', '--out', out])
    assert list(series) == [str(work_dir)]
    picture = cv2.imread(out)
    assert picture.shape == (600, 800, 3)  # two panels of 8x3 in, 100 dpi
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["key 'mDice' not found in the logs; its panel is "
                       'empty', f'curves of loss, mDice saved to {out}']


def test_no_key_found_lists_the_available_ones(work_dir, tmp_path):
    out = tmp_path / 'curves.png'
    with pytest.raises(UserError) as err:
        load_tool(TOOL).main([str(work_dir), '--keys', 'mDice',
                              '--out', str(out)])
    assert str(err.value) == ("none of ['mDice'] is in the logs; available "
                              "keys: ['aAcc', 'loss', 'lr', 'mIoU']")
    assert not out.exists()


def test_unknown_picture_type_is_refused_first(tmp_path):
    out = str(tmp_path / 'curves.txt')
    with pytest.raises(UserError, match=r'--out .*curves\.txt: unknown '
                       r'picture type \.txt; use one of '):
        load_tool(TOOL).main([str(tmp_path / 'none'), '--out', out])


@pytest.mark.slow
def test_curves_of_a_training_run(tiny_training, tmp_path):
    work_dir, metrics = tiny_training.work_dir, tiny_training.metrics
    out = str(tmp_path / 'curves.png')
    series = load_tool(TOOL).main(
        [work_dir, '--keys', 'loss', 'mIoU', '--out', out])
    assert [step for step, _ in series[work_dir]['loss']] == [1, 2]
    assert series[work_dir]['mIoU'] == [(2, metrics['mIoU'])]
    assert cv2.imread(out) is not None
