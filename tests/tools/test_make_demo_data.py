"""tools/misc/make_demo_data.py: generates once, regenerates with
--force, and refuses a folder of other data. The data set itself:
tests/datasets/test_demo_data.py."""
import json

from helpers.tool_loader import load_tool

TOOL = 'tools/misc/make_demo_data.py'


def test_cli(tmp_path, capsys):
    tool = load_tool(TOOL)
    out = str(tmp_path / 'd')
    args = ['--out', out, '--num-train', '2', '--num-val', '1']
    assert tool.main(args) == 0
    assert '2 train + 1 val' in capsys.readouterr().out
    assert tool.main(args) == 0
    assert '(exists' in capsys.readouterr().out


def test_force_regenerates_with_the_new_settings(tmp_path, capsys):
    tool = load_tool(TOOL)
    out = tmp_path / 'd'
    assert tool.main(['--out', str(out), '--num-train', '1', '--num-val',
                      '1']) == 0
    first = (out / 'train.txt').read_text()
    assert tool.main(['--out', str(out), '--num-train', '2', '--num-val',
                      '1', '--seed', '3', '--force']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f'{out}: 2 train + 1 val images, 256x512, '
                                'seed 3 written in ')
    info = json.loads((out / 'demo_info.json').read_text())
    assert (info['num_train'], info['seed']) == (2, 3)
    assert len((out / 'train.txt').read_text().split()) == 2
    assert (out / 'train.txt').read_text() != first


def test_other_data_is_left_alone(tmp_path, capsys):
    tool = load_tool(TOOL)
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep')
    assert tool.main(['--out', str(foreign)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: {foreign} exists but holds neither '
                          'generated demo data')
    assert sorted(p.name for p in foreign.iterdir()) == ['notes.txt']
    # a Cityscapes download is not regenerated over either
    real = tmp_path / 'cityscapes'
    (real / 'leftImg8bit').mkdir(parents=True)
    (real / 'gtFine').mkdir()
    assert tool.main(['--out', str(real), '--force']) == 1
    assert capsys.readouterr().err == (
        f'error: {real} holds a data set in the Cityscapes layout that was '
        'not generated; choose another --out\n')
    assert sorted(p.name for p in real.iterdir()) == ['gtFine',
                                                      'leftImg8bit']
