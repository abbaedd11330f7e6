"""SegRunner's records: the environment header, the config dump, and
nothing left in the current folder by a multi-process evaluation."""
import glob
import json
import os
import os.path as osp

import pytest
import torch
from engine_toy import ToyDataset, make_runner
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from processes import run_two_gloo_processes

from emanet.engine import runner as runner_module
from emanet.engine.runner import resolve_env_cfg


class CountMetric(BaseMetric):
    """Counts the samples evaluated (over every process)."""

    def __init__(self):
        super().__init__(prefix='toy')

    def process(self, data_batch, data_samples):
        self.results.append(len(data_batch['inputs']))

    def compute_metrics(self, results):
        return dict(count=float(sum(results)))


def _eval_args(split: str) -> dict:
    """Runner arguments of a ``split`` ('val' or 'test') loop on the toy
    data set with :class:`CountMetric`."""
    return {
        f'{split}_dataloader': dict(
            dataset=ToyDataset(), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        f'{split}_cfg': dict(),
        f'{split}_evaluator': [CountMetric()],
    }


def _log(runner) -> str:
    [path] = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(path) as f:
        return f.read()


def test_env_cfg_names_the_backend_used(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_env_cfg(None) == dict(dist_cfg=dict(backend='gloo'))
    given = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl',
                                                      timeout=60))
    assert resolve_env_cfg(given) == dict(
        cudnn_benchmark=False, dist_cfg=dict(backend='gloo', timeout=60))
    assert given['dist_cfg']['backend'] == 'nccl'  # a copy
    assert resolve_env_cfg(dict(dist_cfg=dict(backend='mpi'))) == dict(
        dist_cfg=dict(backend='mpi'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_env_cfg(None) == dict(dist_cfg=dict(backend='nccl'))


def test_environment_header_without_cuda_names_cpu_and_gloo(
        tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(runner_module, 'device_description',
                        lambda device: 'cpu: Test CPU (AVX512, 2 threads)')
    runner = make_runner(tmp_path,
                         env_cfg=dict(dist_cfg=dict(backend='nccl')))
    log = _log(runner)
    header = log.split('Runtime environment:', 1)[1].split('-' * 60)[0]
    assert "dist_cfg: {'backend': 'gloo'}" in header
    assert 'nccl' not in header and 'GPU number' not in header
    assert 'Device: cpu: Test CPU (AVX512, 2 threads)' in header
    assert 'Processes: 1' in header


def _config(folder, note: str) -> Config:
    """A config file ``<folder>/<note>/toy_cfg.py`` holding ``note``."""
    path = folder / note / 'toy_cfg.py'
    path.parent.mkdir()
    path.write_text(f'note = {note!r}\n')
    return Config.fromfile(str(path))


def test_training_dumps_config_in_work_dir_testing_in_its_log_folder(
        tmp_path):
    work = tmp_path / 'work'
    trainer = make_runner(work, max_iters=2, cfg=_config(tmp_path, 'train'),
                          experiment_name='train')
    dump = work / 'toy_cfg.py'
    assert not dump.exists()  # not before the runner knows its job
    trainer.train()
    assert Config.fromfile(str(dump)).note == 'train'

    tester = make_runner(work, cfg=_config(tmp_path, 'test'),
                         experiment_name='test', **_eval_args('test'))
    assert tester.test() == {'toy/count': 16.0}
    assert Config.fromfile(str(dump)).note == 'train'  # kept
    test_dump = osp.join(tester.log_dir, 'toy_cfg.py')
    assert Config.fromfile(test_dump).note == 'test'

    validator = make_runner(work, cfg=_config(tmp_path, 'val'),
                            experiment_name='val', **_eval_args('val'))
    validator.val()
    assert Config.fromfile(str(dump)).note == 'train'
    assert Config.fromfile(osp.join(validator.log_dir,
                                    'toy_cfg.py')).note == 'val'


def _evaluate_in(rank: int, out_dir: str) -> None:
    """One of two processes: validate the toy model from ``out_dir``."""
    os.chdir(out_dir)
    os.environ['LOCAL_RANK'] = str(rank)  # as torchrun sets it
    runner = make_runner(osp.join(out_dir, 'work'), launcher='pytorch',
                         **_eval_args('val'))
    metrics = runner.val()
    if rank == 0:
        with open(osp.join(out_dir, 'metrics.json'), 'w') as f:
            json.dump(dict(metrics=metrics, log_dir=runner.log_dir), f)


@pytest.mark.distributed
def test_two_process_evaluation_leaves_nothing_in_current_folder(tmp_path):
    run_two_gloo_processes(_evaluate_in, str(tmp_path))
    result = json.loads((tmp_path / 'metrics.json').read_text())
    assert result['metrics'] == {'toy/count': 16.0}  # both halves
    # mmengine gathers through files in .dist_test/ of the current folder
    # by default; here a folder of the run's log folder, removed after.
    assert sorted(os.listdir(tmp_path)) == ['metrics.json', 'work']
    assert not glob.glob(osp.join(result['log_dir'], '.collect*'))
