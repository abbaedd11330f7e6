"""tools/test.py keeps a record per run and refuses options it would ignore.

Every run writes its own ``<work_dir>/<timestamp>/test_metrics.json`` (or
``--out-metrics PATH``) with the metrics and the settings that produced
them, and dumps its config into that folder, never over the training
run's config dump. ``--backend`` with a checkpoint is refused by every
tool that has it.
"""
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import pytest

from emanet.apis import init_model
from emanet.engine.run_record import settings_line
from emanet.utils.errors import UserError, run_tool

from helpers.run_records import test_record_files
from helpers.tiny_demo import DEMO_CONFIG
from helpers.tool_loader import REPO, load_tool


@pytest.fixture(scope='module')
def trained_copy(tmp_path_factory, tiny_trained):
    """The tiny config and a copy of its training work dir (checkpoint
    and the training config dump), to test in."""
    config, ckpt = tiny_trained
    work = tmp_path_factory.mktemp('records') / 'work'
    work.mkdir()
    shutil.copy(ckpt, work)
    dump = osp.join(osp.dirname(ckpt), osp.basename(config))
    assert osp.isfile(dump)  # the training run's config dump
    shutil.copy(dump, work)
    return config, str(work / osp.basename(ckpt)), work


@pytest.mark.slow
def test_each_run_keeps_its_record_and_the_training_config(
        trained_copy, tmp_path, capsys):
    config, ckpt, work = trained_copy
    dump = work / osp.basename(config)
    training_dump = dump.read_text()
    test_tool = load_tool('tools/test.py')
    metrics = test_tool.main([config, ckpt, '--work-dir', str(work)])
    out = capsys.readouterr().out
    assert f'mIoU: {metrics["mIoU"]:.2f}' in out
    [first] = test_record_files(work)
    assert f'metrics saved to {first}' in out
    # a --format-only run afterwards leaves the first record as it was
    test_tool.main([config, ckpt, '--work-dir', str(work), '--out',
                    str(tmp_path / 'png'), '--format-only'])
    files = test_record_files(work)
    assert len(files) == 2 and files[0] == first
    records = [json.loads(open(f).read()) for f in files]
    assert records[0]['metrics'] == metrics and metrics
    assert records[1]['metrics'] == {} and records[1]['format_only']
    assert f'record saved to {files[1]}' in capsys.readouterr().out
    for path, record in zip(files, records):
        folder = osp.dirname(path)
        assert record['timestamp'] == osp.basename(folder)
        assert {k: record[k] for k in ('config', 'model_file', 'backend',
                                       'mode', 'fast', 'amp', 'aug_test')} \
            == dict(config=config, model_file=ckpt, backend='pytorch',
                    mode='whole', fast=False, amp=False, aug_test=False)
        assert record['device'].startswith('cpu: ')
        assert record['num_images'] == 2 and record['seconds'] > 0
        # the settings are in the run's log too, in one line
        [log] = glob.glob(osp.join(folder, '*.log'))
        lines = [ln for ln in open(log) if 'test settings: ' in ln]
        assert len(lines) == 1
        assert settings_line(record).split(': ', 1)[1] in lines[0]
        # the test-time config went to the run's folder ...
        assert osp.isfile(osp.join(folder, osp.basename(config)))
    # ... and the training run's dump is untouched
    assert dump.read_text() == training_dump
    per_class = records[0]['per_class']
    assert len(per_class['Class']) == len(per_class['IoU']) == 19
    assert not any(osp.basename(p) == 'test_per_class.json'
                   for p in glob.glob(str(work / '**'), recursive=True))


@pytest.mark.slow
def test_out_metrics_path_and_fast_amp_settings(trained_copy, tmp_path,
                                                capsys):
    config, ckpt, _ = trained_copy
    target = tmp_path / 'results' / 'run1.json'
    metrics = load_tool('tools/test.py').main([
        config, ckpt, '--work-dir', str(tmp_path / 'w'), '--fast', '--amp',
        '--out-metrics', str(target)])
    assert f'metrics saved to {target}' in capsys.readouterr().out
    record = json.loads(target.read_text())
    assert record['metrics'] == metrics
    assert record['fast'] is True and record['amp'] is True
    assert not test_record_files(tmp_path / 'w')  # only where asked
    assert not math.isnan(record['metrics']['mIoU'])


def test_out_metrics_refuses_a_folder(tmp_path, capsys):
    status = run_tool(load_tool('tools/test.py').main,
                      ['c.py', 'm.pth', '--out-metrics', str(tmp_path)])
    assert status == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f'error: --out-metrics {tmp_path} is a folder; give a file path')


@pytest.mark.parametrize('tool,argv', [
    ('tools/test.py', ['CONFIG', 'CKPT', '--backend', 'openvino']),
    ('tools/analysis_tools/benchmark.py',
     ['CONFIG', 'CKPT', '--backend', 'onnxruntime']),
    ('tools/analysis_tools/benchmark.py',
     ['CONFIG', '--backend', 'onnxruntime']),  # random weights
])
def test_backend_with_a_checkpoint_is_refused(tool, argv, tmp_path, capsys):
    ckpt = tmp_path / 'iter_2.pth'
    ckpt.write_bytes(b'')  # refused before anything reads it
    argv = [str(ckpt) if a == 'CKPT' else 'missing_config.py'
            if a == 'CONFIG' else a for a in argv]
    main = load_tool(tool).main
    assert run_tool(main, argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith('error: --backend ')
    assert 'applies to an exported model (.onnx' in err[0]
    assert 'tools/deployment/pytorch2onnx.py' in err[0]


def test_init_model_refuses_backend_with_a_checkpoint(tmp_path):
    """The path of demo/video_demo.py and confusion_matrix.py --backend."""
    with pytest.raises(UserError, match=r'--backend openvino applies to an '
                       r'exported model .*not to the checkpoint x\.pth'):
        init_model(DEMO_CONFIG, 'x.pth', backend='openvino')


# Both runs read one clock second, as two runs started together do; the
# rest is the tool as a user starts it.
SAME_SECOND = '''
import sys, time
import mmengine.runner.runner as runner_module
from helpers.tool_loader import REPO, load_tool
from emanet.utils.errors import run_tool

class SameSecond:
    def __getattr__(self, name):
        return getattr(time, name)

    def time(self):
        return 1767225600.0

runner_module.time = SameSecond()
sys.exit(run_tool(load_tool('tools/test.py').main, sys.argv[1:]))
'''


@pytest.mark.slow
def test_runs_started_together_keep_their_own_folder(trained_copy, tmp_path):
    config, ckpt, _ = trained_copy
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, osp.join(REPO, 'tests')]))
    procs = [subprocess.Popen(
        [sys.executable, '-c', SAME_SECOND, config, ckpt, '--work-dir',
         str(work)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    files = test_record_files(work)
    stamp = time.strftime('%Y%m%d_%H%M%S', time.localtime(1767225600.0))
    assert [osp.basename(osp.dirname(f)) for f in files] == [
        stamp, f'{stamp}_1']
    for path in files:
        folder = osp.dirname(path)
        assert json.loads(open(path).read())['timestamp'] == \
            osp.basename(folder)
        # each log holds one run
        [log] = glob.glob(osp.join(folder, '*.log'))
        assert sum('test settings: ' in line for line in open(log)) == 1
        assert sum(f'metrics saved to {path}' in out for out in outputs) == 1
