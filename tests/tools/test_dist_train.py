"""Two CPU processes (torchrun, gloo): ranks agree, EMA bases are right,
and evaluation gives the same metrics as one process."""
import json
import os
import os.path as osp
import socket
import subprocess
import textwrap

import pytest
import torch
from tiny_demo import scores, write_tiny_config
from tool_loader import REPO, load_tool

from emanet.models.decode_heads.ema_head import EMAModule

# Each rank dumps its parameters, its EMA bases and the last iteration's EM
# input (features and bases before the update).
DUMP_HOOK = '''
import os.path as osp
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from emanet.registry import HOOKS


@HOOKS.register_module(force=True)
class EMADumpHook(Hook):

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != runner.max_iters:
            return
        ema = runner.model.module.decode_head.ema_module

        def grab(module, args):
            self.feats = args[0].detach().clone()
            self.bases_before = module.bases.detach().clone()
            handle.remove()
        handle = ema.register_forward_pre_hook(grab)

    def after_train(self, runner):
        model = runner.model.module
        ema = model.decode_head.ema_module
        torch.save(dict(
            params={k: v.detach() for k, v in model.named_parameters()},
            bases=ema.bases.detach().clone(), feats=self.feats,
            bases_before=self.bases_before, num_stages=ema.num_stages,
            momentum=ema.momentum),
            osp.join(runner.work_dir, f'rank{get_rank()}.pth'))
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _torchrun(script, *args, cwd, env):
    env = dict(env, PORT=str(_free_port()))
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', script),
                           *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_two_process_training_and_evaluation(tmp_path, demo_data_root,
                                            monkeypatch):
    (tmp_path / 'ema_dump_hook.py').write_text(DUMP_HOOK)
    tiny = write_tiny_config(tmp_path / 'tiny.py', demo_data_root)
    config = tmp_path / 'dist.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = {tiny!r}
        custom_imports = dict(imports=['ema_dump_hook'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='NonFiniteLossHook'),
                        dict(type='InterruptHook'),
                        dict(type='EMADumpHook')]
        train_cfg = dict(max_iters=3, val_interval=3)
        default_hooks = dict(checkpoint=dict(interval=3))
    '''))
    work_dir = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, str(tmp_path)]))
    out = _torchrun('dist_train.sh', config, 2, '--work-dir', work_dir,
                    '--deterministic', cwd=tmp_path, env=env)
    assert 'mIoU: ' in out

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
    from emanet.engine.checkpoint_loading import load_checkpoint_file
    ckpt = load_checkpoint_file(str(work_dir / 'iter_3.pth'))
    assert torch.equal(ckpt['state_dict']['decode_head.ema_module.bases'],
                       rank0['bases'])
    assert len(ckpt['meta']['random_state']) == 2

    # Evaluation: 2 processes (1 image each) == 1 process (both images).
    _torchrun('dist_test.sh', config, work_dir / 'iter_3.pth', 2,
              '--work-dir', tmp_path / 'test2', cwd=tmp_path, env=env)
    with open(tmp_path / 'test2' / 'test_metrics.json') as f:
        two = json.load(f)['metrics']
    test_main = load_tool('tools/test.py').main
    monkeypatch.syspath_prepend(str(tmp_path))  # custom_imports
    one = test_main([str(config), str(work_dir / 'iter_3.pth'),
                     '--work-dir', str(tmp_path / 'test1')])
    assert 'mIoU' in two
    assert scores(two) == pytest.approx(scores(one), abs=1e-9)
