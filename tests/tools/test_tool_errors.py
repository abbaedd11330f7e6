"""Every tool ends a user error with one ``error:`` line, before any work.

Each script of ``tools/`` and ``demo/`` (found by glob, so a new one must
get a row in :data:`TOOLS`) runs in-process with a missing model file, a
missing config, a typo in ``--cfg-options`` and ``--device cuda`` without
CUDA, where the tool takes them; with each output path it writes (every
option whose name marks an output must be in its row's ``outputs``) set
to a file where a folder is needed or the reverse, a place under a file,
a read-only place and, where the extension picks the writer, an unknown
extension; and with the hostile values of its row (``--cfg-options``
values, data loader and pipeline values, a resume record whose checkpoint
is gone, numbers out of range). It must return 1 and print exactly one
``error:`` line naming the path, key or device (for a number argparse
refuses: status 2 and argparse's one error line), no traceback, and
nothing of the Runner's environment and config dump; generating the demo
data counts as work done too late (the checks are cheap, the data is
not).
"""
import argparse
import os.path as osp
import re
from typing import Dict, NamedTuple, Sequence, Union

import cv2
import numpy as np
import pytest
import torch

from emanet.utils.errors import run_tool
from emanet.visualization.report import folder as report_folder

from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO, discovered_tools, load_tool, tool_parser

TYPO = 'model.decode_head.num_base=3'  # EMAHead takes num_bases
# Options whose name marks something the tool writes (a value is taken).
OUTPUT_OPTION = re.compile(
    r'^--(out|save|output|report$|show-dir$|work-dir$)')
OUTPUT_DEST = re.compile(r'(^|_)(out|output|save|show_dir|work_dir)')
# A pseudo file system: nothing can be created there, even by root.
READ_ONLY = '/proc/emanet-out'


class Out(NamedTuple):
    """An output path of a tool.

    ``kind``: ``'file'`` or ``'dir'``. ``token``: a positional output's
    placeholder in the row's ``argv``. ``suffix``: the file's extension
    in the cases. ``picks_writer``: the tool writes by the extension, so
    an unknown one is refused.
    """
    kind: str
    token: str = ''
    suffix: str = ''
    picks_writer: bool = False


class Hostile(NamedTuple):
    """Extra arguments the tool must refuse, and what the error names.

    ``argparse``: refused by argparse (status 2, its error line).
    """
    args: str
    culprit: str
    argparse: bool = False


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
    outputs: Dict[str, Union[Out, str]] = {}
    hostile: Sequence[Hostile] = ()


NO_INPUTS = 'no config, model file or device'
BAD_HOOKS = "--cfg-options custom_hooks=[{'type':'EarlyStoppingHook'"
DATA = 'train_dataloader.dataset.pipeline'
TOOLS = {
    'tools/train.py': Row(
        'CONFIG --work-dir TMP/work',
        ['--load-from MISSING.pth', '--resume MISSING.pth',
         '--cfg-options load_from=MISSING.pth',
         '--cfg-options model.pretrained=MISSING.pth'],
        device='no --device: CUDA when available, --launcher for more',
        outputs={'--work-dir': Out('dir')},
        hostile=[
            Hostile(BAD_HOOKS, 'custom_hooks'),
            Hostile('--cfg-options train_dataloader.batch_size=0',
                    'batch_size=0'),
            Hostile(f'--cfg-options {DATA}.3.crop_size=(-128,256)',
                    'crop_size=(-128, 256)'),
            Hostile(f'--cfg-options {DATA}.2.crop_size=(64,128)',
                    "'crop_size' for RandomResize"),
            Hostile('--work-dir TMP/stale --resume',
                    'iter_4.pth, which does not exist'),
        ]),
    'tools/test.py': Row(
        'CONFIG MODEL --work-dir TMP/work',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        outputs={'--work-dir': Out('dir'),
                 '--out-metrics': Out('file', suffix='.json'),
                 '--out': Out('dir'), '--out-probs': Out('dir'),
                 '--show-dir': Out('dir'), '--report': Out('dir')},
        hostile=[
            Hostile('--report TMP/report_and_notes',
                    'holds an earlier report and other files (notes.txt)'),
            Hostile('--cfg-options test_dataloader.batch_size=-1',
                    'batch_size=-1'),
        ]),
    'tools/analysis_tools/analyze_logs.py': Row(
        'TMP --out TMP/curves.png', 'reads training logs only',
        config=NO_INPUTS, typo=NO_INPUTS, device=NO_INPUTS,
        outputs={'--out': Out('file', suffix='.png', picks_writer=True)}),
    'tools/analysis_tools/benchmark.py': Row(
        'CONFIG MODEL', ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        device=True,
        hostile=[Hostile('--num-images 0', '--num-images', argparse=True),
                 Hostile('--shape 0 -5', '--shape', argparse=True)]),
    'tools/analysis_tools/benchmark_inferencer.py': Row(
        'CONFIG MODEL --work-dir TMP/bench', ['MODEL=MISSING.pth'],
        device=True, outputs={'--work-dir': Out('dir', token='TMP/bench')}),
    'tools/analysis_tools/benchmark_backends.py': Row(
        'CONFIG', 'times random weights', device='CPU paths only',
        hostile=[Hostile('--repeat 0', '--repeat', argparse=True)]),
    'tools/analysis_tools/benchmark_train.py': Row(
        'CONFIG', 'trains random weights', device=True,
        hostile=[Hostile('--warmup -1', '--warmup', argparse=True),
                 Hostile('--batch-size 0', '--batch-size', argparse=True)]),
    'tools/analysis_tools/benchmark_serve.py': Row(
        'URL IMAGE --config CONFIG --model MODEL',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        typo='times a running service as it was started',
        device='times a running service; the direct run is on the CPU'),
    'tools/analysis_tools/browse_dataset.py': Row(
        'CONFIG --output-dir TMP/browse', 'shows the data, not a model',
        outputs={'--output-dir': Out('dir')},
        hostile=[Hostile('--max-images 0', '--max-images', argparse=True)]),
    'tools/analysis_tools/confusion_matrix.py': Row(
        'CONFIG TMP/preds TMP/cm --checkpoint MODEL',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'], device=True,
        outputs={'save_dir': Out('dir', token='TMP/cm'),
                 # written with --checkpoint
                 'prediction_path': Out('dir', token='TMP/preds')}),
    'tools/analysis_tools/get_flops.py': Row(
        'CONFIG --shape 32', 'counts the config\'s model, no weights',
        device='counts on the CPU',
        hostile=[Hostile('--shape 0', '--shape', argparse=True)]),
    'tools/dataset_converters/cityscapes.py': Row(
        'TMP', 'converts a data folder only', config=NO_INPUTS,
        typo=NO_INPUTS, device=NO_INPUTS,
        outputs={'--out-dir': Out('dir')},
        hostile=[Hostile('--nproc 0', '--nproc', argparse=True)]),
    'tools/deployment/pytorch2onnx.py': Row(
        'CONFIG MODEL --output-file TMP/m.onnx', ['MODEL=MISSING.pth'],
        device='exports on the CPU',
        outputs={'--output-file': Out('file', suffix='.onnx',
                                      picks_writer=True),
                 '--output': 'what the graph ends in, not a path'},
        hostile=[Hostile('--shape 0 -5', '--shape', argparse=True),
                 Hostile(BAD_HOOKS, 'custom_hooks')]),
    'tools/deployment/quantize.py': Row(
        'CONFIG MODEL.onnx --output-file TMP/m_int8.xml',
        ['MODEL.onnx=MISSING.onnx'], device='quantizes on the CPU',
        outputs={'--output-file': Out('file', suffix='.xml',
                                      picks_writer=True)},
        hostile=[Hostile('--num-calib 0', '--num-calib')]),
    'tools/deployment/serve.py': Row(
        'CONFIG MODEL', ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        device='no --device: --gpus-per-replica'),
    'tools/misc/make_demo_data.py': Row(
        '--out TMP/demo', 'writes a data set only', config=NO_INPUTS,
        typo=NO_INPUTS, device=NO_INPUTS,
        outputs={'--out': Out('dir')},
        hostile=[Hostile('--num-train 0', '--num-train', argparse=True)]),
    'tools/misc/list_models.py': Row(
        '', 'lists the metafiles\' names', config=NO_INPUTS, typo=NO_INPUTS,
        device=NO_INPUTS),
    'tools/misc/print_config.py': Row(
        'CONFIG', 'prints the config only',
        outputs={'--save-path': Out('file', suffix='.py',
                                    picks_writer=True)},
        hostile=[
            Hostile(BAD_HOOKS, 'custom_hooks'),
            Hostile('--cfg-options val_dataloader.batch_size=0',
                    'batch_size=0'),
            Hostile(f"--cfg-options {DATA}.2.crop_size=(64,128)",
                    "'crop_size' for RandomResize"),
        ]),
    'tools/misc/publish_model.py': Row(
        'MODEL TMP/out.pth', ['MODEL=MISSING.pth'],
        config='reads the checkpoint only', typo='no --cfg-options',
        outputs={'out_file': Out('file', token='TMP/out.pth',
                                 suffix='.pth')}),
    'demo/image_demo.py': Row(
        'IMAGE CONFIG MODEL', ['MODEL=MISSING.pth'],
        typo='no --cfg-options', device=True,
        outputs={'--out-file': Out('file', suffix='.png',
                                   picks_writer=True),
                 '--out-dir': Out('dir'),
                 '--save-probs': 'a format, written under --out-dir'},
        hostile=[Hostile('--batch-size 0', '--batch-size', argparse=True),
                 Hostile('--save-probs --out-file TMP/o.png',
                         '--save-probs and --label-ids write under '
                         '--out-dir')]),
    'demo/video_demo.py': Row(
        'VIDEO CONFIG MODEL --output-file TMP/o.mp4',
        ['MODEL=MISSING.pth', 'MODEL=MISSING.onnx'],
        typo='no --cfg-options', device=True,
        outputs={'--output-file': Out('file', suffix='.mp4',
                                      picks_writer=True),
                 '--output-fourcc': 'a codec code, not a path',
                 **dict.fromkeys(
                     ('--output-fps', '--output-height', '--output-width'),
                     'a number, not a path')},
        hostile=[Hostile('--output-fps 0', '--output-fps', argparse=True),
                 Hostile('--output-height -4', '--output-height',
                         argparse=True)]),
}


def _output_cases(out: Out) -> list:
    """``(name, value)`` of the bad paths of one output."""
    if isinstance(out, str):
        return []
    if out.kind == 'dir':
        return [('a file', 'TMP/a_file'), ('under a file', 'TMP/a_file/sub'),
                ('read-only', READ_ONLY)]
    found = [('a folder', 'TMP/a_folder'),
             ('under a file', f'TMP/a_file/x{out.suffix}'),
             ('read-only', f'{READ_ONLY}{out.suffix}')]
    if out.picks_writer:
        found.append(('unknown extension', 'TMP/out.unknown'))
    return found


def cases() -> list:
    """``(tool, case, variant)`` for every case that applies.

    ``variant``: the model variant; ``(option, path)`` of an output case;
    the :class:`Hostile` of a hostile case.
    """
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
        for option, out in row.outputs.items():
            for name, path in _output_cases(out):
                found.append(pytest.param(
                    tool, 'output', (option, path),
                    id=f'{tool}-output-{option}-{name}'))
        for hostile in row.hostile:
            found.append(pytest.param(tool, 'hostile', hostile,
                                      id=f'{tool}-hostile-{hostile.args}'))
    return found


def test_every_tool_has_a_row():
    missing = sorted(set(discovered_tools()) - set(TOOLS))
    assert not missing, f'add a row to TOOLS for {missing}'
    assert not set(TOOLS) - set(discovered_tools()), 'a tool was removed'


def _output_options(parser: argparse.ArgumentParser) -> dict:
    """``{option or positional: action}`` of what names an output."""
    found = {}
    for action in parser._actions:
        if action.nargs == 0:  # a flag: no path
            continue
        longs = [o for o in action.option_strings if o.startswith('--')]
        if longs and OUTPUT_OPTION.match(longs[0]):
            found[longs[0]] = action
        elif not action.option_strings and OUTPUT_DEST.search(action.dest):
            found[action.dest] = action
    return found


@pytest.mark.parametrize('tool', sorted(TOOLS))
def test_every_output_option_has_its_cases(tool, monkeypatch):
    """A new output option (``--out*``, ``--save*``, ``--output*``,
    ``--report``, ``--show-dir``, ``--work-dir``, or a positional named
    so) fails here until its row lists it."""
    if not osp.isfile(osp.join(REPO, tool)):
        pytest.skip(f'{tool} is not there')
    parser = tool_parser(tool, monkeypatch)
    found = set(_output_options(parser))
    row = TOOLS[tool]
    missing = sorted(found - set(row.outputs))
    assert not missing, f'add {missing} to the outputs of {tool}\'s row'
    names = {o for a in parser._actions for o in a.option_strings} | {
        a.dest for a in parser._actions if not a.option_strings}
    assert set(row.outputs) <= names, 'an output option was removed'
    for option, out in row.outputs.items():
        if isinstance(out, Out) and out.token:
            assert out.token in row.argv.split(), option


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
    """Existing stand-ins for the inputs a case does not test, and the
    hostile places: a file, a folder, an earlier report with a file of the
    user's, a work dir whose record names a deleted checkpoint."""
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
    (tmp_path / 'a_file').write_text('a file')
    (tmp_path / 'a_folder').mkdir()
    report = tmp_path / 'report_and_notes'
    report.mkdir()
    (report / 'index.html').write_text('<!DOCTYPE html>')
    (report / report_folder.MARKER).write_text('\n'.join(
        [report_folder.MARKER_HEADER, report_folder.MARKER, 'index.html']))
    (report / 'notes.txt').write_text('mine')
    stale = tmp_path / 'stale'
    stale.mkdir()
    (stale / 'iter_2.pth').write_bytes(b'')
    (stale / 'last_checkpoint').write_text('iter_4.pth')
    return dict(CONFIG=DEMO_CONFIG, MODEL=str(tmp_path / 'weights.pth'),
                IMAGE=str(image), VIDEO=video,
                **{'MODEL.onnx': str(tmp_path / 'model.onnx')})


def _argv(template: str, files: dict, tmp: str) -> list:
    return [files.get(a, a.replace('TMP', tmp))
            for a in template.split()]


def _set_output(argv: list, row: Row, option: str, path: str,
                tmp: str) -> None:
    """Give the output ``option`` of ``row`` the value ``path``."""
    out = row.outputs[option]
    if out.token:
        argv[argv.index(out.token.replace('TMP', tmp))] = path
    elif option in argv:
        argv[argv.index(option) + 1] = path
    else:
        argv += [option, path]


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
    row = TOOLS[tool]
    argv = _argv(row.argv, inputs, tmp)
    culprits = []
    by_argparse = False
    if case == 'model':
        culprits.append(
            osp.join(tmp, re.search(r'MISSING\.\w+', variant)[0]))
        token = variant.split('=')[0]
        if ' ' not in variant and token in inputs:
            argv[argv.index(inputs[token])] = culprits[0]
        else:
            argv += [a.replace('MISSING', osp.join(tmp, 'MISSING'))
                     for a in variant.split()]
    elif case == 'config':
        culprits.append(osp.join(tmp, 'no_such_config.py'))
        argv[argv.index(DEMO_CONFIG)] = culprits[0]
    elif case == 'typo':
        culprits.append("'num_base'")
        argv += ['--cfg-options', TYPO]
    elif case == 'device':
        culprits.append("'cuda'")
        argv += ['--device', 'cuda']
    elif case == 'output':
        option, path = variant
        path = path.replace('TMP', tmp)
        _set_output(argv, row, option, path, tmp)
        culprits += [path, option]
    else:
        argv += variant.args.replace('TMP', tmp).split()
        culprits.append(variant.culprit)
        by_argparse = variant.argparse

    if by_argparse:
        with pytest.raises(SystemExit) as exit_info:
            run_tool(load_tool(tool).main, argv)
        status = exit_info.value.code
    else:
        status = run_tool(load_tool(tool).main, argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = text.splitlines()
    if by_argparse:  # usage, then '<prog>: error: argument --x: ...'
        assert status == 2, text[-2000:]
        errors = [line for line in lines if ': error: ' in line]
        assert len(errors) == 1, text[-2000:]
        assert f'argument {culprits[0]}' in errors[0]
    else:
        errors = [line for line in lines if line.startswith('error:')]
        assert status == 1, text[-2000:]
        assert len(errors) == 1, text[-2000:]
        assert captured.err.splitlines()[-1] == errors[0]
    for culprit in culprits:
        assert culprit in errors[0], errors[0]
    assert 'Traceback' not in text
    assert 'System environment' not in text
    assert not any(line.startswith('Config:') for line in lines)
