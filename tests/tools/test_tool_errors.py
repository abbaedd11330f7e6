"""Every tool ends a user error with one ``error:`` line, before any work.

Each script of ``tools/`` and ``demo/`` (found by glob, so a new one must
get a row in :data:`TOOLS`) runs in-process with a missing model file, a
missing config, a typo in ``--cfg-options`` and ``--device cuda`` without
CUDA, where the tool takes them. It must return 1 and print exactly one
``error:`` line naming the path, key or device, no traceback, and nothing
of the Runner's environment and config dump; generating the demo data
counts as work done too late (the checks are cheap, the data is not).
"""
import glob
import os.path as osp
import re
from typing import NamedTuple, Sequence, Union

import cv2
import numpy as np
import pytest
import torch
from tiny_demo import DEMO_CONFIG
from tool_loader import REPO, load_tool

from emanet.utils.errors import run_tool

TOOL_GLOBS = ('tools/*.py', 'tools/*/*.py', 'demo/*.py')
TYPO = 'model.decode_head.num_base=3'  # EMAHead takes num_bases


class Row(NamedTuple):
    """How a tool is called, and which cases apply.

    ``argv`` placeholders: ``CONFIG`` (the demo config), ``MODEL`` /
    ``MODEL.onnx`` (existing files, not real models: every case must fail
    before the model is read), ``IMAGE``, ``VIDEO``, ``TMP/...`` (a
    scratch folder). ``model``: the missing-model-file variants, each
    either ``TOKEN=MISSING.ext`` (replaces an argument) or extra
    arguments; ``MISSING.ext`` is a file that does not exist. A string
    instead of a case says why the case does not apply.
    """
    argv: str
    model: Union[Sequence[str], str]
    config: Union[bool, str] = True
    typo: Union[bool, str] = True
    device: Union[bool, str] = 'no --device option'


NO_INPUTS = 'no config, model file or device'
TOOLS = {
    'tools/train.py': Row(
        'CONFIG --work-dir TMP/work',
        ['--load-from MISSING.pth', '--resume MISSING.pth',
         '--cfg-options load_from=MISSING.pth',
         '--cfg-options model.pretrained=MISSING.pth'],
        device='no --device: CUDA when available, --launcher for more'),
    'tools/test.py': Row(
        'CONFIG MODEL --work-dir TMP/work',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx']),
    'tools/analysis_tools/analyze_logs.py': Row(
        'TMP --out TMP/curves.png', 'reads training logs only',
        config=NO_INPUTS, typo=NO_INPUTS, device=NO_INPUTS),
    'tools/analysis_tools/benchmark.py': Row(
        'CONFIG MODEL', ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        device=True),
    'tools/analysis_tools/benchmark_inferencer.py': Row(
        'CONFIG MODEL --work-dir TMP/bench', ['MODEL=MISSING.pth'],
        device=True),
    'tools/analysis_tools/benchmark_backends.py': Row(
        'CONFIG', 'times random weights', device='CPU paths only'),
    'tools/analysis_tools/benchmark_train.py': Row(
        'CONFIG', 'trains random weights', device=True),
    'tools/analysis_tools/browse_dataset.py': Row(
        'CONFIG --output-dir TMP/browse', 'shows the data, not a model'),
    'tools/analysis_tools/confusion_matrix.py': Row(
        'CONFIG TMP/preds TMP/cm --checkpoint MODEL',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'], device=True),
    'tools/analysis_tools/get_flops.py': Row(
        'CONFIG --shape 32', 'counts the config\'s model, no weights',
        device='counts on the CPU'),
    'tools/dataset_converters/cityscapes.py': Row(
        'TMP', 'converts a data folder only', config=NO_INPUTS,
        typo=NO_INPUTS, device=NO_INPUTS),
    'tools/deployment/pytorch2onnx.py': Row(
        'CONFIG MODEL --output-file TMP/m.onnx', ['MODEL=MISSING.pth'],
        device='exports on the CPU'),
    'tools/deployment/quantize.py': Row(
        'CONFIG MODEL.onnx --output-file TMP/m_int8.xml',
        ['MODEL.onnx=MISSING.onnx'], device='quantizes on the CPU'),
    'tools/misc/make_demo_data.py': Row(
        '--out TMP/demo', 'writes a data set only', config=NO_INPUTS,
        typo=NO_INPUTS, device=NO_INPUTS),
    'tools/misc/list_models.py': Row(
        '', 'lists the metafiles\' names', config=NO_INPUTS, typo=NO_INPUTS,
        device=NO_INPUTS),
    'tools/misc/print_config.py': Row('CONFIG', 'prints the config only'),
    'tools/misc/publish_model.py': Row(
        'MODEL TMP/out.pth', ['MODEL=MISSING.pth'],
        config='reads the checkpoint only', typo='no --cfg-options'),
    'demo/image_demo.py': Row(
        'IMAGE CONFIG MODEL --out-file TMP/o.png', ['MODEL=MISSING.pth'],
        typo='no --cfg-options', device=True),
    'demo/video_demo.py': Row(
        'VIDEO CONFIG MODEL --output-file TMP/o.mp4',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        typo='no --cfg-options', device=True),
}


def discovered_tools() -> list:
    """The Python scripts of ``tools/`` and ``demo/``."""
    return sorted(osp.relpath(path, REPO) for pattern in TOOL_GLOBS
                  for path in glob.glob(osp.join(REPO, pattern)))


def cases() -> list:
    """``(tool, case, variant)`` for every case that applies."""
    found = []
    for tool in discovered_tools():
        row = TOOLS.get(tool)
        if row is None:
            continue  # test_every_tool_has_a_row fails
        variants = [('model', v) for v in (
            [] if isinstance(row.model, str) else row.model)]
        variants += [(case, '') for case in ('config', 'typo', 'device')
                     if getattr(row, case) is True]
        for case, variant in variants:
            found.append(pytest.param(
                tool, case, variant,
                id=f'{tool}-{case}' + (f'-{variant}' if variant else '')))
    return found


def test_every_tool_has_a_row():
    missing = sorted(set(discovered_tools()) - set(TOOLS))
    assert not missing, f'add a row to TOOLS for {missing}'
    assert not set(TOOLS) - set(discovered_tools()), 'a tool was removed'


@pytest.mark.parametrize('tool', sorted(TOOLS))
def test_rows_match_the_options(tool):
    """A case is left out only where the tool lacks the option."""
    if not osp.isfile(osp.join(REPO, tool)):
        pytest.skip(f'{tool} is not there')
    with open(osp.join(REPO, tool), encoding='utf-8') as f:
        source = f.read()
    row = TOOLS[tool]
    assert ("'--cfg-options'" in source) == (row.typo is True)
    assert ("'--device'" in source) == (row.device is True)
    assert ('CONFIG' in row.argv.split()) == (row.config is True)
    for case in ('model', 'config', 'typo', 'device'):
        value = getattr(row, case)
        assert value is True or (value and isinstance(value, (str, list)))


@pytest.fixture
def inputs(tmp_path):
    """Existing stand-ins for the inputs a case does not test."""
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((16, 32, 3), np.uint8))
    video = str(tmp_path / 'video.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             (32, 16))
    for _ in range(2):
        writer.write(np.zeros((16, 32, 3), np.uint8))
    writer.release()
    torch.save({}, tmp_path / 'weights.pth')
    (tmp_path / 'model.onnx').write_bytes(b'not a network')
    return dict(CONFIG=DEMO_CONFIG, MODEL=str(tmp_path / 'weights.pth'),
                IMAGE=str(image), VIDEO=video,
                **{'MODEL.onnx': str(tmp_path / 'model.onnx')})


def _argv(template: str, files: dict, tmp: str) -> list:
    return [files.get(a, a.replace('TMP', tmp))
            for a in template.split()]


@pytest.mark.parametrize('tool,case,variant', cases())
def test_error_is_one_line_before_any_work(tool, case, variant, inputs,
                                           tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('EMANET_DEBUG', raising=False)
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.chdir(tmp_path)  # no demo data here

    def generate(*args, **kwargs):
        raise AssertionError('the demo data was generated before the '
                             'error was found')
    monkeypatch.setattr('emanet.datasets.demo_data.generate_demo_data',
                        generate)
    tmp = str(tmp_path)
    argv = _argv(TOOLS[tool].argv, inputs, tmp)
    if case == 'model':
        culprit = osp.join(tmp, re.search(r'MISSING\.\w+', variant)[0])
        token = variant.split('=')[0]
        if ' ' not in variant and token in inputs:
            argv[argv.index(inputs[token])] = culprit
        else:
            argv += [a.replace('MISSING', osp.join(tmp, 'MISSING'))
                     for a in variant.split()]
    elif case == 'config':
        culprit = osp.join(tmp, 'no_such_config.py')
        argv[argv.index(DEMO_CONFIG)] = culprit
    elif case == 'typo':
        culprit = "'num_base'"
        argv += ['--cfg-options', TYPO]
    else:
        culprit = "'cuda'"
        argv += ['--device', 'cuda']

    status = run_tool(load_tool(tool).main, argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    errors = [line for line in text.splitlines()
              if line.startswith('error:')]
    assert status == 1, text[-2000:]
    assert len(errors) == 1, text[-2000:]
    assert culprit in errors[0]
    assert captured.err.splitlines()[-1] == errors[0]
    assert 'Traceback' not in text
    assert 'System environment' not in text
    assert not any(line.startswith('Config:') for line in text.splitlines())
