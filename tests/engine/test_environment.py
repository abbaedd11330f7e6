"""The machine the Runner adapts to: the environment header names the
backend and device used, DDP on CPU gets no device, and several processes
leave nothing in the current folder when they evaluate."""
import glob
import json
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel

from emanet.engine import environment
from emanet.engine.environment import cpu_wrapper_cfg, resolve_env_cfg

from helpers.engine_toy import ToyModel, eval_args, make_runner
from helpers.processes import run_two_gloo_processes


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
    monkeypatch.setattr(environment, 'device_description',
                        lambda device: 'cpu: Test CPU (AVX512, 2 threads)')
    runner = make_runner(tmp_path,
                         env_cfg=dict(dist_cfg=dict(backend='nccl')))
    log = _log(runner)
    header = log.split('Runtime environment:', 1)[1].split('-' * 60)[0]
    assert "dist_cfg: {'backend': 'gloo'}" in header
    assert 'nccl' not in header and 'GPU number' not in header
    assert 'Device: cpu: Test CPU (AVX512, 2 threads)' in header
    assert 'Processes: 1' in header
    assert 'seed: 0' in header and 'deterministic: True' in header
    assert 'System environment:' in log


def test_ddp_on_cpu_gets_no_device(monkeypatch):
    model = ToyModel()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = cpu_wrapper_cfg(None, model, True, find_unused_parameters=True)
    assert cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                       broadcast_buffers=False, find_unused_parameters=True)
    assert cpu_wrapper_cfg(None, model, False, False) is None  # one process
    own = dict(type='MMDistributedDataParallel', device_ids=[0])
    assert cpu_wrapper_cfg(own, model, True, False) is own
    wrapped = nn.Module.__new__(MMDistributedDataParallel)
    assert cpu_wrapper_cfg(None, wrapped, True, False) is None
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert cpu_wrapper_cfg(None, model, True, False) is None  # mmengine's


def _evaluate_in(rank: int, out_dir: str) -> None:
    """One of two processes: validate the toy model from ``out_dir``."""
    os.chdir(out_dir)
    os.environ['LOCAL_RANK'] = str(rank)  # as torchrun sets it
    runner = make_runner(osp.join(out_dir, 'work'), launcher='pytorch',
                         **eval_args('val'))
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
