"""--launcher slurm: torch.distributed's settings from Slurm's variables,
gloo without CUDA calls on CPU, NCCL through torchrun's path with CUDA."""
import os

import mmengine.dist
import pytest
import torch
import torch.distributed as torch_dist

from emanet.engine.dist_env import (
    local_rank,
    process_group_backend,
    slurm_env,
)
from emanet.engine.runner import SegRunner
from emanet.utils.errors import UserError

from helpers.processes import free_port

TASK = dict(SLURM_PROCID='1', SLURM_NTASKS='2', SLURM_LOCALID='1',
            SLURM_NODELIST='node[1-2]')
TORCH_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
              'MASTER_PORT')


@pytest.fixture
def fake_scontrol(tmp_path, monkeypatch):
    """An ``scontrol`` on PATH that expands ``node[1-2]``."""
    script = tmp_path / 'scontrol'
    script.write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames node[1-2]" ]'
                      ' && printf "node1\\nnode2\\n"\n')
    script.chmod(0o755)
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')


def test_slurm_variables_become_torchrun_ones(fake_scontrol):
    assert slurm_env(TASK) == dict(RANK='1', WORLD_SIZE='2', LOCAL_RANK='1',
                                   MASTER_ADDR='node1', MASTER_PORT='29500')
    env = slurm_env(dict(TASK, MASTER_ADDR='10.0.0.1', MASTER_PORT='1234'))
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('10.0.0.1', '1234')
    assert slurm_env(TASK, port=4321)['MASTER_PORT'] == '4321'


def test_outside_a_slurm_task_is_named():
    with pytest.raises(UserError, match='SLURM_PROCID, SLURM_NTASKS'):
        slurm_env(dict(SLURM_NODELIST='node1'))


def test_node_list_scontrol_cannot_expand_is_named(fake_scontrol):
    with pytest.raises(UserError, match='scontrol show hostnames other'):
        slurm_env(dict(TASK, SLURM_NODELIST='other'))


def test_one_choice_of_the_backend(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert process_group_backend() == 'gloo'
    assert process_group_backend('nccl') == 'gloo'
    assert process_group_backend('mpi') == 'mpi'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert process_group_backend('nccl') == 'nccl'
    assert process_group_backend('gloo') == 'gloo'


@pytest.fixture
def one_slurm_task(monkeypatch, tmp_path):
    """This process as the only task of a Slurm job; the process group and
    torchrun's variables are removed afterwards."""
    for key in TORCH_VARS:
        monkeypatch.delenv(key, raising=False)
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):  # mmengine sets them
        monkeypatch.setenv(key, os.environ.get(key, '2'))
    for key, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1',
                           SLURM_LOCALID='0', SLURM_NODELIST='localhost',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    runner = object.__new__(SegRunner)
    runner._launcher, runner._distributed = 'slurm', True
    runner._work_dir = str(tmp_path)  # setup_env claims its log folder
    yield runner
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_cpu_slurm_task_starts_gloo_without_cuda_calls(one_slurm_task,
                                                      monkeypatch):
    def no_cuda(*args, **kwargs):
        raise AssertionError('a CUDA call on a CPU-only machine')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.cuda, 'set_device', no_cuda)
    one_slurm_task.setup_env(dict(dist_cfg=dict(backend='nccl')))
    assert torch_dist.get_backend() == 'gloo'
    assert (one_slurm_task.rank, one_slurm_task.world_size) == (0, 1)
    assert os.environ['RANK'] == '0' and os.environ['WORLD_SIZE'] == '1'


def test_cuda_slurm_task_starts_nccl_like_torchrun(one_slurm_task,
                                                  monkeypatch):
    calls = []

    def init_dist(launcher, **kwargs):  # records, then a CPU stand-in
        calls.append((launcher, kwargs, os.environ['LOCAL_RANK']))
        torch_dist.init_process_group('gloo')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(mmengine.dist, 'init_dist', init_dist)
    one_slurm_task.setup_env(dict(dist_cfg=dict(backend='nccl',
                                                timeout=60)))
    assert calls == [('pytorch', dict(backend='nccl', timeout=60), '0')]


def test_local_rank_from_torchrun_or_slurm():
    assert local_rank(None, {}) == 0
    assert local_rank(None, {'LOCAL_RANK': '1'}) == 1
    # SLURM_LOCALID counts only for --launcher slurm; LOCAL_RANK wins
    assert local_rank(None, {'SLURM_LOCALID': '3'}) == 0
    assert local_rank('slurm', {'SLURM_LOCALID': '3'}) == 3
    assert local_rank('slurm', {'SLURM_LOCALID': '3', 'LOCAL_RANK': '2'}) \
        == 2
