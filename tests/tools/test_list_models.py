"""tools/misc/list_models.py: the metafiles' names."""
from emanet.apis import list_models
from emanet.utils.errors import run_tool

from helpers.tool_loader import load_tool


def test_prints_every_name(capsys):
    names = load_tool('tools/misc/list_models.py').main([])
    assert names == list_models() and len(names) == 5
    assert capsys.readouterr().out.split() == names


def test_verbose_gives_config_weights_and_scores(capsys, tmp_path,
                                                 monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    load_tool('tools/misc/list_models.py').main(['r101.*512', '--verbose'])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'emanet_r101-d8_4xb2-80k_cityscapes-512x1024'
    assert out[1].split() == [
        'config:', 'configs/emanet/emanet_r101-d8_4xb2-80k_cityscapes-'
        '512x1024.py']
    assert out[2].endswith('-2d970745.pth (downloaded on first use)')
    assert out[3].strip() == 'mIoU 79.1, mIoU(ms+flip) 81.21'


def test_no_match_is_one_line(capsys):
    assert run_tool(load_tool('tools/misc/list_models.py').main,
                    ['pspnet']) == 1
    assert capsys.readouterr().err.startswith(
        "error: no model name matches 'pspnet'")
