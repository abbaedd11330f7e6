"""demo/image_demo.py: one image, a folder or a glob; the hostile inputs
are one ``error:`` line before the model is built."""
import glob
import os.path as osp
import re
import urllib.error

import cv2
import numpy as np
import pytest
import torch

from emanet.utils.errors import run_tool

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import load_tool


@pytest.fixture
def demo(monkeypatch):
    """The tool, whose model must not be built."""
    tool = load_tool('demo/image_demo.py')

    def never(*args, **kwargs):
        raise AssertionError('the model was built before the error')
    monkeypatch.setattr(tool, 'init_model', never)
    return tool


def _error_line(tool, argv, capsys):
    status = run_tool(tool.main, argv)
    captured = capsys.readouterr()
    errors = [line for line in (captured.out + captured.err).splitlines()
              if line.startswith('error:')]
    assert status == 1 and len(errors) == 1, captured.out + captured.err
    assert 'Traceback' not in captured.err
    return errors[0]


@pytest.fixture
def weights(tmp_path):
    path = str(tmp_path / 'w.pth')
    torch.save({}, path)
    return path


def test_zero_byte_image_is_one_line(demo, weights, tmp_path, capsys):
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    line = _error_line(demo, [str(empty), DEMO_CONFIG, weights,
                              '--out-file', str(tmp_path / 'o.png')],
                       capsys)
    assert f'{empty} is empty' in line


@pytest.mark.parametrize('name', ['o.xyz', 'o'])
def test_unknown_out_file_suffix_is_one_line(demo, weights, tmp_path,
                                             capsys, name):
    image = str(tmp_path / 'a.png')
    cv2.imwrite(image, np.zeros((8, 8, 3), np.uint8))
    line = _error_line(demo, [image, DEMO_CONFIG, weights, '--out-file',
                              str(tmp_path / name)], capsys)
    assert f'--out-file {tmp_path / name}' in line and '.png' in line


def test_folder_needs_an_output_folder(demo, weights, demo_data_root,
                                       tmp_path, capsys):
    val = osp.join(demo_data_root, 'leftImg8bit', 'val')
    line = _error_line(demo, [val, DEMO_CONFIG, weights], capsys)
    assert f'{val} holds several images: give --out-dir' in line
    (tmp_path / 'file').write_text('')
    line = _error_line(demo, [val, DEMO_CONFIG, weights, '--out-dir',
                              str(tmp_path / 'file')], capsys)
    assert 'is a file, not a folder' in line
    line = _error_line(demo, [str(tmp_path / '*.jpg'), DEMO_CONFIG, weights,
                              '--out-dir', str(tmp_path / 'o')], capsys)
    assert 'no images' in line and '*.jpg' in line


def test_model_name_offline_is_one_line(demo, tmp_path, monkeypatch,
                                        capsys):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def offline(url, dst, **kwargs):
        raise urllib.error.URLError('no network')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    image = str(tmp_path / 'a.png')
    cv2.imwrite(image, np.zeros((8, 8, 3), np.uint8))
    line = _error_line(demo, [image, 'emanet_r50-d8_4xb2-80k_cityscapes-'
                              '512x1024'], capsys)
    assert 'could not download' in line and 'https://download.' in line


@pytest.mark.slow
def test_folder_and_glob_write_outputs_named_after_sources(
        tiny_trained, demo_data_root, tmp_path, capsys):
    config, ckpt = tiny_trained
    tool = load_tool('demo/image_demo.py')
    val = osp.join(demo_data_root, 'leftImg8bit', 'val')
    out = str(tmp_path / 'out')
    tool.main([val, config, ckpt, '--out-dir', out, '--batch-size', '4',
               '--save-probs', '--device', 'cpu'])
    text = capsys.readouterr().out
    assert '2 images segmented' in text and f'{out}/prob' in text
    names = sorted(osp.relpath(p, val) for p in glob.glob(
        osp.join(val, '*', '*.png')))
    for kind, suffix in (('pred', '.png'), ('vis', '.png'),
                         ('prob', '.npz')):
        assert sorted(osp.relpath(p, osp.join(out, kind))[:-4] + '.png'
                      for p in glob.glob(osp.join(out, kind, '*', '*' +
                                                  suffix))) == names
    # 4 images a batch: no data loader workers forked in the test process
    again = tool.main([osp.join(val, '*', '*.png'), config, ckpt,
                       '--out-dir', out, '--skip-existing', '--save-probs',
                       '--batch-size', '4'])
    assert len(again['skipped']) == 2
    assert '2 images skipped' in capsys.readouterr().out


@pytest.mark.slow
def test_image_demo_writes_overlay(tiny_trained, demo_data_root, tmp_path,
                                   capsys, monkeypatch):
    config, ckpt = tiny_trained
    img = sorted(glob.glob(osp.join(demo_data_root, 'leftImg8bit', 'val',
                                    '*', '*.png')))[0]
    # without --out-file the overlay is result.png in the current folder
    monkeypatch.chdir(tmp_path)
    out_file = 'result.png'
    drawn = load_tool('demo/image_demo.py').main(
        [img, config, ckpt, '--device', 'cpu'])
    assert drawn.shape == (256, 512, 3)
    written = cv2.imread(out_file)
    assert written.shape == (256, 512, 3)
    # the returned overlay is RGB, the file BGR
    np.testing.assert_array_equal(written[..., ::-1], drawn)
    assert not np.array_equal(drawn, cv2.imread(img)[..., ::-1])
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f'overlay saved to {out_file}'
    shares = re.findall(r'(\d+\.\d)%', out[-2])
    assert out[-2].startswith('predicted classes: ')
    assert sum(float(s) for s in shares) == pytest.approx(100, abs=0.1 *
                                                          len(shares))


def test_defaults():
    args = load_tool('demo/image_demo.py').parse_args(
        ['i.png', 'c.py', 'm.pth'])
    assert (args.out_file, args.out_dir, args.batch_size, args.save_probs,
            args.opacity, args.device, args.with_labels,
            args.allow_partial_weights) == (None, None, 1, None, 0.5, None,
                                            False, False)
