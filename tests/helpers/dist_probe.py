"""Hooks and helpers for the multi-process tests (torchrun and Slurm).

The training processes import this module through the config's
``custom_imports`` (``tests/`` on their ``PYTHONPATH``):

- :class:`ProbeHook` lets every rank write what the tests compare: the
  state it starts from (after a resume), the iterations it started, and at
  the end its parameters, its EMA bases and the last iteration's EM input;
- :class:`PreemptGateHook` holds every rank after the iteration named by
  ``EMANET_TEST_STOP_AT`` until a signal came (or the test says go), so a
  test can signal a job at a known iteration.
"""
import json
import os
import os.path as osp
import textwrap
import time
from typing import Dict, List

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from emanet.engine.hooks import InterruptHook
from emanet.registry import HOOKS

from helpers.tiny_demo import write_tiny_config
from helpers.tool_loader import REPO

TESTS_DIR = osp.join(REPO, 'tests')
#: The iteration after which PreemptGateHook holds the ranks.
STOP_AT_ENV = 'EMANET_TEST_STOP_AT'


def _model(runner):
    model = runner.model
    return model.module if hasattr(model, 'module') else model


@HOOKS.register_module(force=True)
class ProbeHook(Hook):
    """Every rank writes ``start_rank<r>.pth``, ``iters.rank<r>`` and
    ``rank<r>.pth`` into the work dir."""

    def before_train(self, runner) -> None:
        model = _model(runner)
        torch.save(
            dict(iter=runner.iter,
                 state_dict={k: v.detach().clone()
                             for k, v in model.state_dict().items()},
                 optimizer=runner.optim_wrapper.optimizer.state_dict(),
                 lr=[g['lr'] for g in
                     runner.optim_wrapper.optimizer.param_groups]),
            osp.join(runner.work_dir, f'start_rank{get_rank()}.pth'))

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        with open(osp.join(runner.work_dir, f'iters.rank{get_rank()}'),
                  'a') as f:
            f.write(f'{runner.iter + 1}\n')
        if runner.iter + 1 != runner.max_iters:
            return
        ema = _model(runner).decode_head.ema_module

        def grab(module, args):
            self.feats = args[0].detach().clone()
            self.bases_before = module.bases.detach().clone()
            handle.remove()
        handle = ema.register_forward_pre_hook(grab)

    def after_train(self, runner) -> None:
        model = _model(runner)
        ema = model.decode_head.ema_module
        torch.save(
            dict(params={k: v.detach()
                         for k, v in model.named_parameters()},
                 bases=ema.bases.detach().clone(), feats=self.feats,
                 bases_before=self.bases_before,
                 num_stages=ema.num_stages, momentum=ema.momentum),
            osp.join(runner.work_dir, f'rank{get_rank()}.pth'))


@HOOKS.register_module(force=True)
class PreemptGateHook(Hook):
    """After iteration ``$EMANET_TEST_STOP_AT`` every rank writes
    ``ready.rank<r>`` (its pid and Slurm job id) and waits until it
    received a signal or the work dir holds ``go`` (at most 120 s).

    Runs before :class:`InterruptHook` (lower priority), which then agrees
    on the stop.
    """

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if str(runner.iter + 1) != os.environ.get(STOP_AT_ENV):
            return
        interrupt = next(h for h in runner.hooks
                         if isinstance(h, InterruptHook))
        with open(osp.join(runner.work_dir, f'ready.rank{get_rank()}'),
                  'w') as f:
            f.write(f'{os.getpid()} {os.environ.get("SLURM_JOB_ID", "")}')
        go = osp.join(runner.work_dir, 'go')
        deadline = time.monotonic() + 120
        while interrupt.received is None and not osp.exists(go) and \
                time.monotonic() < deadline:
            time.sleep(0.05)


PROBE_CONFIG = '''
custom_imports = dict(imports=['helpers.dist_probe'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='NonFiniteLossHook'),
                dict(type='InterruptHook', save_on_interrupt=True),
                dict(type='ValRandomStateHook'),
                dict(type='ProbeHook'),
                dict(type='PreemptGateHook')]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={interval}),
                     visualization=dict(draw=False))
'''


def write_probe_config(path, data_root, iters: int = 4,
                       interval: int = 2) -> str:
    """The tiny config with the probe hooks, ``iters`` iterations,
    validation at the end and a checkpoint every ``interval``."""
    return write_tiny_config(
        path, data_root,
        textwrap.dedent(PROBE_CONFIG.format(iters=iters, interval=interval)))


def probe_env(**extra: str) -> Dict[str, str]:
    """The environment of the training processes: one thread each, the
    repository and ``tests/`` importable."""
    return dict(os.environ, OMP_NUM_THREADS='1',
                PYTHONPATH=os.pathsep.join([REPO, TESTS_DIR]), **extra)


def logged(work_dir, key: str = 'loss') -> Dict[int, float]:
    """``{iteration: value}`` of a training key from every run's
    ``scalars.json`` in ``work_dir`` (a resumed run adds its own)."""
    values: Dict[int, float] = {}
    for run in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                if key in entry and 'iter' in entry and 'mIoU' not in entry:
                    assert entry['iter'] not in values, (
                        f'iteration {entry["iter"]} logged twice')
                    values[entry['iter']] = entry[key]
    return values


def started_iters(work_dir, rank: int) -> List[int]:
    """The iterations rank ``rank`` started, in order, over all runs."""
    with open(osp.join(work_dir, f'iters.rank{rank}')) as f:
        return [int(line) for line in f]
