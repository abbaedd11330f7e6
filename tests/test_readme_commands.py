"""The shell commands of README.md run as documented.

Every ```bash block of README.md is read; a command is a line (``\\``
continuations joined, comment lines and trailing comments dropped) or one
part of an ``&&`` chain. Each command either

* is skipped for the reason that ``SKIPS`` gives it (installs, GPUs,
  several machines, Slurm, the test suite itself), or
* runs through bash in a run folder laid out like the repository, after
  the replacements of ``SUBSTITUTIONS`` (few iterations, small inputs,
  the test's image and video), and must exit 0 and print the lines and
  write the files that ``EXPECTED`` names.

A command that is neither skipped nor runnable (a placeholder such as
``CKPT`` or an ``[--option]`` left after the substitutions) fails, so the
tables follow the README. A ```python block right after a ``<!-- runs
-->`` line is one command too: the substituted code runs as a script.

A ```python block right after ``<!-- file: PATH -->`` is a file the
README asks the reader to write (a leaf config): it is written at ``PATH``
in the run folder of its section before the section's commands run.

Each section of the README runs in its own run folder, laid out like the
repository (``STAND_INS``; the outputs of the commands, ``work_dirs/``,
``preds/``, ``demo.onnx`` ..., stay there: the last test checks that
nothing was written into the checkout). The main command (training) runs
first; the other sections start from a copy of its work dir and run
their commands in README order, two sections side by side.
"""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import pytest

from helpers.tiny_demo import DEMO_CONFIG, TOOLS_EXTRA, write_tiny_config
from helpers.tool_loader import REPO

pytestmark = pytest.mark.slow

README = osp.join(REPO, 'README.md')
DEMO_NAME = osp.splitext(osp.basename(DEMO_CONFIG))[0]
WORK = f'work_dirs/{DEMO_NAME}'
# The tiny config trains 2 iterations (tests/helpers/tiny_demo.py TOOLS_EXTRA).
TINY_ITERS = 2

# What a run folder holds in place of the checkout's files.
STAND_INS: List[Tuple[str, str]] = [
    (f'configs/emanet/{DEMO_NAME}.py',
     'the tiny variant of tests/helpers/tiny_demo.py (8 base channels, 64x128 '
     'crops, 4 + 2 generated images, 2 iterations, one validation, 2-view '
     '--aug-test) under the demo config\'s name, so that the default work '
     'dir work_dirs/<config name> is the README\'s'),
    ('configs/emanet/*.py, configs/_base_/, tools/, demo/',
     'links to the checkout\'s'),
    ('data/cityscapes/', 'the 4 + 2 generated images and their label ids: '
     'the files of the Cityscapes download the converter reads'),
    ('pip install -e .', 'PYTHONPATH=<checkout>'),
    ('configs/my/*.py', 'the README\'s <!-- file: PATH --> blocks of the '
     'section, as they are'),
]

# Replacements applied, in this order, to every command that runs (the
# README's text on the left; later rows see the earlier rows' output).
# After them the brackets of optional parts are removed: a synopsis runs
# with every option it lists. `{image}` and `{video}` are files the test
# makes in each run folder (FILES).
SUBSTITUTIONS: List[Tuple[str, str, str]] = [
    ('[--work-dir DIR]', '--work-dir work_dirs/options',
     'a second work dir'),
    ('[--resume [PATH]]', '--resume $WORK/iter_400.pth',
     'resume from the trained checkpoint'),
    ('[--load-from CKPT]', '--load-from $WORK/iter_400.pth',
     'the trained checkpoint'),
    ('train_cfg.max_iters=800', f'train_cfg.max_iters={2 * TINY_ITERS}',
     'resumed at 2, trains 2 more iterations'),
    ('IMAGE.png', '{image}', 'a val image of the generated data'),
    ('data/cityscapes_demo/leftImg8bit/val', 'data/cityscapes/leftImg8bit/'
     'val', 'the val images of the stand-in data'),
    ('dashcam.mp4', '{video}', 'a 4-frame 64x128 video of the generated '
     'images'),
    ('--output-height 256', '--output-height 64', 'smaller frames'),
    ('--nproc 8', '--nproc 2', 'the CPUs of CI'),
    ('iter_400.pth', f'iter_{TINY_ITERS}.pth',
     'the tiny config trains 2 iterations'),
    ('--shape 512 1024', '--shape 64 128', 'full-width models, small input'),
    ('--shape 512 512', '--shape 64 64', 'full-width models, small input'),
    ('--shape 769 769', '--shape 64 64', 'full-width models, small input'),
]

# The inputs the test makes in each run folder (a val image of the
# generated data; 4 of its frames as a 64x128 mp4v video).
FILES = dict(image='inputs/image.png', video='inputs/clip.mp4')

# Commands (regular expressions searched in the README's text) that do not
# run here, with the reason.
SKIPS: List[Tuple[str, str]] = [
    (r'^(sudo )?(pip|apt-get) install\b', 'installs packages'),
    (r'^ruff check\b',
     'lints the checkout: part of the test command, which CI runs '
     'verbatim (.ci/run)'),
    (r'python -m pytest\b',
     'runs the test suite (or part of it), which holds this test; CI runs '
     'the test command verbatim (.ci/run)'),
    (r'^tools/dist_t(rain|est)\.sh configs/emanet/emanet_r50\S* (CKPT )?4$',
     '4 GPUs and the Cityscapes download; tests/tools/test_dist_train.py '
     'runs dist_train.sh and dist_test.sh with 2 CPU processes'),
    (r'^NNODES=2 .*tools/dist_train\.sh',
     'two machines and the Cityscapes download; tests/tools/'
     'test_dist_train.py runs two "nodes" on 127.0.0.1'),
    (r'^GPUS=8 .*tools/slurm_train\.sh PARTITION',
     'a Slurm cluster with GPUs and the Cityscapes download'),
    (r'^GPUS=2 GPUS_PER_NODE=0 .*tools/slurm_train\.sh cpu',
     'a Slurm cluster with a partition "cpu"; tests/tools/test_slurm.py '
     'runs slurm_train.sh on a one-node cluster'),
    (r'^python tools/deployment/serve\.py ',
     'serves until stopped, or deploys onto a Ray cluster; tests/serving/'
     'conftest.py starts the same service on a local Ray instance and '
     'tests/tools/test_serve.py runs this tool'),
    (r'^curl .*localhost:8000',
     'asks the running service; tests/serving/test_deployment.py sends '
     'these requests to the service it starts'),
    (r'^ray start\b', 'starts a Ray cluster (several machines)'),
    (r'^serve (run|deploy) ',
     "Ray's own CLI: serves until stopped, or deploys onto a running "
     'cluster; tests/serving/test_launch.py builds its application from '
     'the same arguments and from docs/serve_config.yaml'),
]

# What a command (regular expression searched in the README's text)
# promises: lines of its output (regular expressions) and files (globs in
# the run folder, `**` for any depth) written while it ran. Every row
# matching a command applies.
EXPECTED: List[Tuple[str, List[str], List[str]]] = [
    (r'^python tools/train\.py configs/emanet/' + re.escape(DEMO_NAME),
     [r'^mIoU: \d'],
     [f'{WORK}/iter_{TINY_ITERS}.pth', f'{WORK}/last_checkpoint',
      f'{WORK}/{DEMO_NAME}.py', f'{WORK}/*/vis_data/scalars.json']),
    (r'^python tools/train\.py configs/my/(\S+)\.py', [r'^mIoU: \d'],
     ['work_dirs/emanet_r18-d8_1xb4-400_cityscapes-demo-128x128/'
      f'iter_{TINY_ITERS}.pth']),
    (r'^python tools/train\.py \$CONFIG', [r'^mIoU: \d'],
     [f'work_dirs/options/iter_{2 * TINY_ITERS}.pth',
      'work_dirs/options/last_checkpoint']),
    (r'^python tools/test\.py (?!.*--format-only)', [r'^mIoU: \d'],
     [f'{WORK}/*/test_metrics.json']),
    (r'^python tools/test\.py .*--report report\b', [],
     ['report/index.html']),
    (r'--out preds\b', [], ['preds/**/*.png']),
    (r'--show-dir overlays\b', [], ['overlays/**/*.png']),
    (r'--out submission --format-only', [], ['submission/**/*.png']),
    (r'^python demo/image_demo\.py .*--out-file result\.png', [],
     ['result.png']),
    (r'^python demo/image_demo\.py .*--out-dir outputs', [],
     ['outputs/pred/*/*.png', 'outputs/vis/*/*.png',
      'outputs/prob/*/*.npz']),
    (r'--out-probs probs\b', [], ['probs/*.npz']),
    (r'MMSegInferencer\(', [],
     ['outputs/pred/*/*.png', 'outputs/prob/*/*.npz']),
    (r'^python tools/misc/list_models\.py', [
        r'^emanet_r50-d8_4xb2-80k_cityscapes-512x1024$'], []),
    (r'^python tools/deployment/pytorch2onnx\.py .*--output label',
     [r'label output'], ['demo_label.onnx']),
    (r'^python tools/analysis_tools/get_flops\.py', [r'^FLOPs: ',
                                                     r'^Params: '], []),
    (r'^python tools/analysis_tools/analyze_logs\.py .*--out curves\.png',
     [], ['curves.png']),
    (r'^python tools/misc/print_config\.py .*--save-path run\.py', [],
     ['run.py']),
    (r'^python tools/analysis_tools/browse_dataset\.py .*--output-dir '
     r'browse', [], ['browse/*.png']),
    (r'^python tools/analysis_tools/confusion_matrix\.py \S+ preds cm', [],
     ['cm/confusion_matrix.png', 'cm/confusion_matrix.csv',
      'cm/confusion_matrix.json']),
    (r'^python tools/misc/publish_model\.py .* emanet_demo\.pth', [],
     ['emanet_demo-' + '[0-9a-f]' * 8 + '.pth']),
    (r'^python demo/video_demo\.py .*--output-file result\.mp4', [],
     ['result.mp4']),
    (r'^python tools/dataset_converters/cityscapes\.py data/cityscapes', [],
     ['data/cityscapes/gtFine/*/*/*_gtFine_labelTrainIds.png',
      'data/cityscapes/train.txt', 'data/cityscapes/val.txt']),
    (r'^python tools/deployment/pytorch2onnx\.py .*--output-file demo\.onnx',
     [], ['demo.onnx']),
    (r'^python tools/deployment/pytorch2onnx\.py .*--verify',
     [r'^verify \(onnxruntime vs PyTorch'], []),
    (r'^python tools/analysis_tools/benchmark\.py', [r'^fps: \d',
                                                     r'^ms/image: \d'], []),
    (r'^python tools/analysis_tools/benchmark\.py .*--check',
     [r'^check vs '], []),
    (r'^python tools/deployment/quantize\.py \S+ demo\.onnx '
     r'--output-file demo_int8\.xml',
     [r'^float32 \(demo\.onnx, OpenVINO\): mIoU \d',
      r'^int8 \(demo_int8\.xml, OpenVINO\): mIoU \d'],
     ['demo_int8.xml', 'demo_int8.bin']),
]

# A word in capitals that no substitution replaced: a placeholder.
PLACEHOLDER = re.compile(r'(?<![$\w=/.-])[A-Z][A-Z0-9_]+\b(?!=)')


@dataclass
class Command:
    """One README command: where it is and what its text is."""
    block: int  # index of its ```bash block in the README
    index: int  # position in its section (from 1)
    section: str  # the heading above the block
    text: str  # continuations joined, comments dropped
    main: bool = False  # in the main-command block
    python: bool = False  # a ```python block that runs as a script

    @property
    def id(self) -> str:
        slug = re.sub(r'\W+', '-', self.section.lower()).strip('-')
        if self.python:
            return f'{slug}-{self.index}-python'

        words = [w for w in self.text.split() if '=' not in w or '/' in w]
        script = next((osp.basename(w) for w in words
                       if w.endswith(('.py', '.sh'))), words[0])
        return f'{slug}-{self.index}-{script}'


def _outside_quotes(text: str, token: str) -> List[int]:
    """Offsets of ``token`` in ``text`` outside single or double quotes."""
    found, quote, i = [], None, 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in '\'"':
            quote = c
        elif text.startswith(token, i):
            found.append(i)
        i += 1
    return found


def _strip_comment(line: str) -> str:
    for i in _outside_quotes(line, '#'):
        if i == 0 or line[i - 1].isspace():
            return line[:i].rstrip()
    return line.rstrip()


def _split_and(line: str) -> List[str]:
    parts, start = [], 0
    for i in _outside_quotes(line, '&&'):
        parts.append(line[start:i].strip())
        start = i + 2
    parts.append(line[start:].strip())
    return [p for p in parts if p]


def readme_commands(path: str = README) -> List[Command]:
    """The commands of every ```bash block of ``path``, in order."""
    commands, section, block, main = [], '', -1, False
    lines = open(path, encoding='utf-8').read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.match(r'#{1,6} ', line):
            section = line.lstrip('#').strip()
        elif line.strip() == '<!-- runs -->' and i + 1 < len(lines) and \
                lines[i + 1].strip() == '```python':
            block, i = block + 1, i + 2
            start = i
            while i < len(lines) and lines[i].strip() != '```':
                i += 1
            commands.append(Command(block, 0, section,
                                    '\n'.join(lines[start:i]), python=True))
        elif line.strip() == '<!-- main-command -->':
            main = True
        elif line.strip() == '<!-- /main-command -->':
            main = False
        elif line.strip() == '```bash':
            block += 1
            body, i = [], i + 1
            while i < len(lines) and lines[i].strip() != '```':
                body.append(lines[i])
                i += 1
            for text in _block_lines(body):
                for part in _split_and(text):
                    commands.append(Command(block, 0, section, part, main))
        elif line.startswith('```'):  # another block: its # are no headings
            i += 1
            while i < len(lines) and lines[i].strip() != '```':
                i += 1
        i += 1
    counts: Dict[str, int] = {}
    for cmd in commands:
        counts[cmd.section] = cmd.index = counts.get(cmd.section, 0) + 1
    return commands


def readme_files(path: str = README) -> List[Tuple[str, str, str]]:
    """``(section, path, text)`` of each ``<!-- file: PATH -->`` block."""
    files, section, fenced = [], '', False
    lines = open(path, encoding='utf-8').read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith('```'):
            fenced = not fenced
        elif not fenced and re.match(r'#{1,6} ', line):
            section = line.lstrip('#').strip()
        match = re.match(r'<!-- file: (\S+) -->$', line.strip())
        if match:
            assert lines[i + 1].startswith('```'), f'no block after {line}'
            end = lines.index('```', i + 2)
            files.append((section, match.group(1),
                          '\n'.join(lines[i + 2:end]) + '\n'))
    return files


def _block_lines(body: List[str]) -> List[str]:
    """Join ``\\`` continuations; drop blank and comment lines."""
    out, buf = [], ''
    for line in body:
        if not buf and (not line.strip() or line.lstrip().startswith('#')):
            continue
        line = _strip_comment(line)
        if line.endswith('\\'):
            buf += line[:-1].strip() + ' '
            continue
        out.append((buf + line.strip()).strip())
        buf = ''
    if buf:
        out.append(buf.strip())
    return out


def is_assignment(text: str) -> bool:
    """``CONFIG=...``: a shell variable for the commands after it."""
    return all(re.match(r'^[A-Za-z_]\w*=\S*$', w) for w in text.split())


def skip_reason(text: str) -> Optional[str]:
    for pattern, reason in SKIPS:
        if re.search(pattern, text):
            return reason
    return None


def substitute(text: str, files: Dict[str, str],
               python: bool = False) -> str:
    """The command as it runs here (``SUBSTITUTIONS``, brackets removed;
    Python code only substituted)."""
    for old, new, _ in SUBSTITUTIONS:
        text = text.replace(old, new)
    for name, path in files.items():
        text = text.replace('{' + name + '}', path)
    if python:
        return text
    return re.sub(r'\s+', ' ', text.replace('[', '').replace(']', ''))


def not_runnable(text: str, python: bool = False) -> Optional[str]:
    """Why a substituted command cannot run as it is, or None."""
    if python:
        found = PLACEHOLDER.findall(text)
        return f'placeholder {found[0]} is left' if found else None
    if '[' in text or ']' in text:
        return 'an [optional] part is left'
    if any(re.search(r'\w\|\w', text[i - 1:i + 2])
           for i in _outside_quotes(text, '|')):
        return 'a choice a|b is left'
    found = PLACEHOLDER.findall(text)
    return f'placeholder {found[0]} is left' if found else None


def expectations(text: str) -> Tuple[List[str], List[str]]:
    lines, files = [], []
    for pattern, out, written in EXPECTED:
        if re.search(pattern, text):
            lines += out
            files += written
    return lines, files


COMMANDS = readme_commands()
FILE_BLOCKS = readme_files()
ASSIGNMENTS = [c.text for c in COMMANDS if is_assignment(c.text)]
STEPS = [c for c in COMMANDS if not is_assignment(c.text)]


def runnable(cmd: Command) -> bool:
    return (skip_reason(cmd.text) is None and not_runnable(
        substitute(cmd.text, FILES, cmd.python), cmd.python) is None)


@dataclass
class Result:
    command: str  # as run
    returncode: int
    output: str
    seconds: float  # wall time
    missing: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.missing


def _make_video(images: List[str], path: str) -> str:
    import cv2
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (128, 64))
    for image in images:
        writer.write(cv2.resize(cv2.imread(image), (128, 64)))
    writer.release()
    return path


def _link_configs(run: str, data_root: str) -> None:
    """``configs/`` of the checkout with the tiny demo config in it."""
    src = osp.join(REPO, 'configs')
    os.makedirs(osp.join(run, 'configs', 'emanet'))
    os.symlink(osp.join(src, '_base_'), osp.join(run, 'configs', '_base_'))
    for name in os.listdir(osp.join(src, 'emanet')):
        if name != osp.basename(DEMO_CONFIG):
            os.symlink(osp.join(src, 'emanet', name),
                       osp.join(run, 'configs', 'emanet', name))
    write_tiny_config(
        osp.join(run, 'configs', 'emanet', osp.basename(DEMO_CONFIG)),
        data_root, TOOLS_EXTRA)


def _cityscapes_stand_in(data_root: str, dst: str) -> None:
    """Images and label ids of ``data_root``: what the download holds."""
    for path in glob.glob(osp.join(data_root, '**', '*.png'), recursive=True):
        if path.endswith(('_leftImg8bit.png', '_gtFine_labelIds.png')):
            target = osp.join(dst, osp.relpath(path, data_root))
            os.makedirs(osp.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)


def make_run_folder(root: str, data_root: str) -> str:
    """A folder laid out like the repository (see the module docstring)."""
    os.makedirs(root)
    for name in ('tools', 'demo'):
        os.symlink(osp.join(REPO, name), osp.join(root, name))
    _link_configs(root, data_root)
    _cityscapes_stand_in(data_root, osp.join(root, 'data', 'cityscapes'))
    images = sorted(glob.glob(osp.join(
        data_root, 'leftImg8bit', 'val', '*', '*.png')))
    os.makedirs(osp.join(root, 'inputs'))
    shutil.copyfile(images[0], osp.join(root, FILES['image']))
    _make_video(images[:2] * 2, osp.join(root, FILES['video']))
    return root


def run_command(cmd: Command, folder: str, env: Dict[str, str]) -> Result:
    """Run ``cmd`` (substituted) with bash in ``folder``; check its promises.
    """
    text = substitute(cmd.text, FILES, cmd.python)
    script = '\n'.join([substitute(a, FILES) for a in ASSIGNMENTS] + [text])
    if cmd.python:  # the code as a script file of the run folder
        script = f'readme_{cmd.block}.py'
        with open(osp.join(folder, script), 'w') as f:
            f.write(text + '\n')
        script = f'python {script}'
    start = time.time()
    proc = subprocess.run(
        ['bash', '-euo', 'pipefail', '-c', script], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    seconds = time.time() - start
    lines, files = expectations(cmd.text)
    missing = [f'output line {p!r}' for p in lines
               if not re.search(p, proc.stdout, re.M)]
    for pattern in files:
        paths = glob.glob(osp.join(folder, pattern), recursive=True)
        # File times can lag the clock by a tick: 1 s of slack.
        if not any(osp.getmtime(p) >= start - 1 for p in paths):
            missing.append(f'file {pattern}')
    return Result(text, proc.returncode, proc.stdout, seconds, missing)


class Runs:
    """Runs the README's commands, two sections at a time.

    The main command runs first, in the folder of its section; every other
    section gets its own run folder with a copy of the main command's work
    dir and runs its commands in README order, so that sections can run
    side by side without sharing outputs (two cores: the tools spend most
    of their time importing, on one core). Only the commands that the
    selected tests need run.
    """

    def __init__(self, root: str, data_root: str,
                 selected: List[Command]):
        self.env = dict(
            os.environ,
            PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
            PYTHONPATH=os.pathsep.join(
                [REPO, *filter(None, [os.environ.get('PYTHONPATH')])]),
            MPLBACKEND='Agg',
            EMANET_DEBUG='1')  # a traceback when a command fails
        self.env.pop('DISPLAY', None)
        sections: Dict[str, List[Command]] = {}
        for cmd in STEPS:
            if runnable(cmd):
                sections.setdefault(cmd.section, []).append(cmd)
        main = [c for c in STEPS if c.main and runnable(c)]
        self.main_section = main[0].section if main else None
        self.futures: Dict[str, Future] = {}
        jobs = []
        if not any(runnable(c) for c in selected):
            sections = {}
        for section, cmds in sections.items():
            # Up to the last selected command (the main one always runs).
            last = max([i for i, c in enumerate(cmds)
                        if c in selected or c.main], default=-1)
            if last < 0 and section != self.main_section:
                continue
            cmds = cmds[:last + 1]
            for cmd in cmds:
                self.futures[cmd.id] = Future()
            slug = re.sub(r'\W+', '-', section.lower()).strip('-')
            jobs.append((section, cmds, osp.join(root, slug or 'top')))
        self.data_root = data_root
        self.main_done = Future()
        self.pool = ThreadPoolExecutor(2)
        # The main section first (the others wait for its work dir), then
        # the longest first, so that the two workers end close together.
        jobs.sort(key=lambda job: (job[0] != self.main_section,
                                   -len(job[1])))
        if self.main_section is None:
            self.main_done.set_result(None)
        for job in jobs:
            self.pool.submit(self._run_section, *job)

    def _run_section(self, section: str, cmds: List[Command],
                     folder: str) -> None:
        try:
            make_run_folder(folder, self.data_root)
            for where, path, text in FILE_BLOCKS:
                if where == section:
                    os.makedirs(osp.join(folder, osp.dirname(path)),
                                exist_ok=True)
                    with open(osp.join(folder, path), 'w') as f:
                        f.write(text)
            if section != self.main_section:
                main_folder = self.main_done.result()
                work = osp.join(main_folder or '', WORK)
                if main_folder and osp.isdir(work):
                    shutil.copytree(work, osp.join(folder, WORK))
            for cmd in cmds:
                self.futures[cmd.id].set_result(
                    run_command(cmd, folder, self.env))
                if section == self.main_section and cmd.main and all(
                        self.futures[c.id].done()
                        for c in cmds if c.main):
                    self.main_done.set_result(folder)
        except BaseException as e:  # reported by the tests that wait
            for cmd in cmds:
                if not self.futures[cmd.id].done():
                    self.futures[cmd.id].set_exception(e)
            if section == self.main_section and not self.main_done.done():
                self.main_done.set_result(None)
            raise

    def result(self, cmd: Command) -> Result:
        return self.futures[cmd.id].result()

    def failed_before(self, cmd: Command) -> List[str]:
        """The main and earlier same-section commands that failed."""
        failed = []
        for other in STEPS:
            if other is cmd or other.id not in self.futures:
                continue
            if other.main or (other.section == cmd.section
                              and STEPS.index(other) < STEPS.index(cmd)):
                future = self.futures[other.id]
                if (future.exception() is not None
                        or not future.result().ok):
                    failed.append(other.text)
        return failed

    def close(self) -> None:
        self.pool.shutdown(wait=True)


@pytest.fixture(scope='module')
def checkout_state():
    """Start time of the module: nothing in the checkout may be newer."""
    return time.time() - 1


@pytest.fixture(scope='module')
def runs(request, tmp_path_factory, demo_data_root, checkout_state):
    selected = [item.callspec.params['cmd']
                for item in request.session.items
                if 'cmd' in getattr(getattr(item, 'callspec', None),
                                    'params', {})]
    runs = Runs(str(tmp_path_factory.mktemp('readme')), demo_data_root,
                selected)
    yield runs
    runs.close()


def _report(result: Result, failed_before: List[str]) -> str:
    what = [f'exit status {result.returncode}'] if result.returncode else []
    what += [f'missing {m}' for m in result.missing]
    note = ''
    if failed_before:
        note = ('\n(earlier commands it may need failed too: '
                + '; '.join(failed_before) + ')')
    return (f'README command failed ({", ".join(what)}) in '
            f'{result.seconds:.0f} s:\n  {result.command}{note}\n'
            f'--- output (end) ---\n{result.output[-4000:]}')


@pytest.mark.parametrize('cmd', STEPS, ids=[c.id for c in STEPS])
def test_readme_command(cmd: Command, runs: Runs):
    reason = skip_reason(cmd.text)
    if reason:
        pytest.skip(f'{cmd.text}: {reason}')
    text = substitute(cmd.text, FILES, cmd.python)
    why = not_runnable(text, cmd.python)
    assert why is None, (
        f'README command {cmd.text!r} cannot run here ({why} in {text!r}): '
        'add a row to SKIPS or SUBSTITUTIONS of tests/'
        'test_readme_commands.py')
    result = runs.result(cmd)
    assert result.ok, _report(result, runs.failed_before(cmd))


def test_tables_follow_the_readme():
    """Every row of the tables applies to a README command."""
    texts = [c.text for c in STEPS]
    stale = [p for p, _ in SKIPS if not any(re.search(p, t) for t in texts)]
    stale += [p for p, _, _ in EXPECTED
              if not any(re.search(p, t) for t in texts)]
    stale += [old for old, _, _ in SUBSTITUTIONS
              if not any(old in t for t in texts)]
    assert not stale, f'rows that match no README command: {stale}'
    assert any(c.main for c in STEPS), 'no main-command block in README.md'


def test_nothing_written_to_the_checkout(runs, checkout_state):
    """The commands wrote their outputs in the run folder only."""
    patterns = ['work_dirs/**', 'data/**']
    for _, _, files in EXPECTED:
        patterns += [f for f in files if not f.startswith(('data/',
                                                           'work_dirs/'))]
    written = sorted({
        osp.relpath(p, REPO)
        for pattern in patterns
        for p in glob.glob(osp.join(REPO, pattern), recursive=True)
        if osp.isfile(p) and osp.getmtime(p) >= checkout_state
    })
    assert not written, f'written into the checkout: {written}'


def test_blocks_are_read_as_bash_reads_them(tmp_path):
    """Continuations joined, comments dropped, ``&&`` chains split."""
    readme = tmp_path / 'README.md'
    readme.write_text(
        '# Top\n\n```bash\n# a comment\nA=1\n'
        'pip install -e ".[deploy]"   # extras \\\n'
        'python x.py --a \\\n    --b "# not a comment" && echo ok\n'
        '```\n\n## Next\n\n```python\nprint(1)\n```\n'
        '```bash\npython y.py IMAGE.png [--c D]\n```\n'
        '<!-- runs -->\n```python\nx = [1]\nprint(x[0])\n```\n')
    commands = readme_commands(str(readme))
    assert [(c.section, c.block, c.index, c.text) for c in commands] == [
        ('Top', 0, 1, 'A=1'),
        ('Top', 0, 2, 'pip install -e ".[deploy]"'),
        ('Top', 0, 3, 'python x.py --a --b "# not a comment"'),
        ('Top', 0, 4, 'echo ok'),
        ('Next', 1, 1, 'python y.py IMAGE.png [--c D]'),
        ('Next', 2, 2, 'x = [1]\nprint(x[0])'),
    ]
    assert commands[-1].python and not_runnable(
        substitute(commands[-1].text, FILES, True), True) is None
    assert is_assignment('A=1') and not is_assignment('A=1 python x.py')
    assert skip_reason(commands[1].text) == 'installs packages'
    assert not_runnable(substitute(commands[2].text, FILES)) is None
    # A placeholder or an optional part that no row fills cannot run.
    assert not_runnable('python y.py IMAGE.png') == \
        'placeholder IMAGE is left'
    assert not_runnable('python y.py --c D]') == 'an [optional] part is left'
    assert not_runnable('python y.py --b onnxruntime|openvino') == \
        'a choice a|b is left'
    assert not_runnable('GPUS=2 x.sh $CONFIG --t T a=AVX2 | tee "a|b"') \
        is None
    readme.write_text('## Mine\n\n<!-- file: configs/my/a.py -->\n'
                      '```python\n# not a heading\n_base_ = \'x.py\'\n```\n'
                      '```bash\npython tools/train.py configs/my/a.py\n```\n')
    assert readme_files(str(readme)) == [
        ('Mine', 'configs/my/a.py', "# not a heading\n_base_ = 'x.py'\n")]
    assert [c.section for c in readme_commands(str(readme))] == ['Mine']
