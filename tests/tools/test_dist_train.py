"""Several CPU processes through torchrun (gloo): ranks agree, EMA bases are
right, evaluation gives the metrics of one process, two "nodes" train like
one machine, and a checkpoint resumes with another number of processes."""
import os.path as osp
import shutil
import subprocess

import pytest
import torch

from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.models.decode_heads.ema_head import EMAModule

from helpers.dist_probe import (
    logged,
    probe_env,
    started_iters,
    write_probe_config,
)
from helpers.processes import free_port
from helpers.run_records import read_test_record
from helpers.tiny_demo import scores
from helpers.tool_loader import REPO, load_tool

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
TIMEOUT = 240
#: The resume warning when the number of processes changed.
WORLD_SIZE_WARNING = 'cannot repeat those of an uninterrupted run'



def _launch(script, *args, cwd, **env):
    return subprocess.Popen(
        ['bash', osp.join(REPO, 'tools', script), *map(str, args)],
        cwd=cwd, env=probe_env(**env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _finish(proc) -> str:
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, out[-6000:]
    return out


def _torchrun(script, *args, cwd) -> str:
    return _finish(_launch(script, *args, cwd=cwd, PORT=str(free_port())))


@pytest.fixture(scope='module')
def one_node(demo_data_root, tmp_path_factory):
    """2 processes on one machine, 4 iterations, checkpoints at 2 and 4."""
    tmp = tmp_path_factory.mktemp('one_node')
    config = write_probe_config(tmp / 'probe.py', demo_data_root)
    work_dir = tmp / 'work'
    out = _torchrun('dist_train.sh', config, 2, '--work-dir', work_dir,
                    '--deterministic', cwd=tmp)
    return dict(config=config, work_dir=work_dir, out=out,
                losses=logged(work_dir), lrs=logged(work_dir, 'lr'))


def test_two_process_training_and_evaluation(one_node, tmp_path,
                                            monkeypatch):
    assert 'mIoU: ' in one_node['out']
    work_dir = one_node['work_dir']
    rank0 = torch.load(work_dir / 'rank0.pth')
    rank1 = torch.load(work_dir / 'rank1.pth')
    # Gradients are averaged, so every parameter is identical ...
    for key, value in rank0['params'].items():
        assert torch.equal(value, rank1['params'][key]), key
    # ... each rank saw different images ...
    assert not torch.equal(rank0['feats'], rank1['feats'])
    # ... and the bases moved toward the mean over both ranks' images,
    # exactly as one process with both ranks' batches would move them.
    assert torch.equal(rank0['bases'], rank1['bases'])
    assert torch.equal(rank0['bases_before'], rank1['bases_before'])
    channels, num_bases = rank0['bases'].shape[1:]
    reference = EMAModule(channels, num_bases, rank0['num_stages'],
                          rank0['momentum']).train()
    reference.bases.copy_(rank0['bases_before'])
    reference(torch.cat([rank0['feats'], rank1['feats']]))
    torch.testing.assert_close(rank0['bases'], reference.bases,
                               rtol=0, atol=1e-6)
    one_rank = EMAModule(channels, num_bases, rank0['num_stages'],
                         rank0['momentum']).train()
    one_rank.bases.copy_(rank0['bases_before'])
    one_rank(rank0['feats'])
    assert (one_rank.bases - rank0['bases']).abs().max() > 1e-4
    # The checkpoint holds those bases and both ranks' random states.
    ckpt = load_checkpoint_file(str(work_dir / 'iter_4.pth'))
    assert torch.equal(ckpt['state_dict']['decode_head.ema_module.bases'],
                       rank0['bases'])
    assert len(ckpt['meta']['random_state']) == 2

    # Evaluation: 2 processes (1 image each) == 1 process (both images).
    config = one_node['config']
    _torchrun('dist_test.sh', config, work_dir / 'iter_4.pth', 2,
              '--work-dir', tmp_path / 'test2', cwd=tmp_path)
    two = read_test_record(tmp_path / 'test2')['metrics']
    # the processes gathered their results in the run's log folder
    assert not (tmp_path / '.dist_test').exists()
    monkeypatch.syspath_prepend(osp.join(REPO, 'tests'))  # custom_imports
    one = load_tool('tools/test.py').main([
        config, str(work_dir / 'iter_4.pth'), '--work-dir',
        str(tmp_path / 'test1')])
    assert 'mIoU' in two
    assert scores(two) == pytest.approx(scores(one), abs=1e-9)


def test_two_nodes_train_like_one_machine(one_node, tmp_path):
    # Two `dist_train.sh CONFIG 1`, as on two machines: NNODES=2,
    # NODE_RANK=0/1, the same MASTER_ADDR and PORT.
    work_dir = tmp_path / 'work'
    port = str(free_port())
    nodes = [
        _launch('dist_train.sh', one_node['config'], 1, '--work-dir',
                work_dir, '--deterministic', cwd=tmp_path, NNODES='2',
                NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1', PORT=port)
        for rank in (0, 1)
    ]
    outs = [_finish(node) for node in nodes]
    assert 'mIoU: ' in outs[0]
    assert logged(work_dir) == one_node['losses']
    for rank in (0, 1):
        params = torch.load(work_dir / f'rank{rank}.pth')['params']
        expected = torch.load(
            one_node['work_dir'] / f'rank{rank}.pth')['params']
        for key, value in expected.items():
            assert torch.equal(params[key], value), key


def _check_resumed(work_dir, ckpt_path, lrs, ranks, output):
    """The run resumed from the checkpoint of iteration k ran k+1 ... 4
    once each, from its weights and optimizer state and with the schedule's
    learning rates, after one warning."""
    ckpt = load_checkpoint_file(str(ckpt_path))
    k = ckpt['meta']['iter']
    for rank in ranks:
        start = torch.load(work_dir / f'start_rank{rank}.pth')
        assert start['iter'] == k
        for key, value in ckpt['state_dict'].items():  # EMA bases too
            assert torch.equal(start['state_dict'][key], value), key
        momenta = start['optimizer']['state']
        assert momenta and momenta.keys() == ckpt['optimizer']['state'].keys()
        for key, value in ckpt['optimizer']['state'].items():
            assert torch.equal(momenta[key]['momentum_buffer'],
                               value['momentum_buffer']), key
        assert started_iters(work_dir, rank) == list(range(k + 1, 5))
    assert logged(work_dir, 'lr') == {i: lrs[i] for i in range(k + 1, 5)}
    assert load_checkpoint_file(str(work_dir / 'iter_4.pth'))['meta'][
        'iter'] == 4
    assert output.count(WORLD_SIZE_WARNING) == 1, output[-6000:]


def test_resume_with_another_number_of_processes(one_node, tmp_path,
                                                 monkeypatch):
    # 2 processes -> 1: the 2-process checkpoint of iteration 2, resumed
    # by one process that saves every iteration ...
    monkeypatch.syspath_prepend(osp.join(REPO, 'tests'))  # custom_imports
    ckpt2 = tmp_path / 'one' / 'iter_2.pth'
    ckpt2.parent.mkdir()
    shutil.copy(one_node['work_dir'] / 'iter_2.pth', ckpt2)
    load_tool('tools/train.py').main([
        one_node['config'], '--work-dir', str(ckpt2.parent), '--resume',
        str(ckpt2), '--deterministic', '--cfg-options',
        'default_hooks.checkpoint.interval=1'])
    log = next(ckpt2.parent.glob('*/*.log')).read_text()
    _check_resumed(ckpt2.parent, ckpt2, one_node['lrs'], [0], log)

    # ... and 1 -> 2: its checkpoint of iteration 3, resumed by two.
    ckpt1 = tmp_path / 'two' / 'iter_3.pth'
    ckpt1.parent.mkdir()
    shutil.copy(ckpt2.parent / 'iter_3.pth', ckpt1)
    assert len(load_checkpoint_file(str(ckpt1))['meta']['random_state']) \
        == 1
    out = _torchrun('dist_train.sh', one_node['config'], 2, '--work-dir',
                    ckpt1.parent, '--resume', ckpt1, '--deterministic',
                    cwd=tmp_path)
    _check_resumed(ckpt1.parent, ckpt1, one_node['lrs'], [0, 1], out)
