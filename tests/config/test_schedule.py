"""The schedule follows a ``train_cfg.max_iters`` override.

A shorter run cuts the schedule where it ends (mmsegmentation runs a
5-iteration smoke run of a config with a 20-iteration warm-up); a longer
one carries the schedulers that ended at the config's ``max_iters``.
"""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import LinearLR, PolyLR
from mmengine.runner import Runner

from emanet.config import load_config
from emanet.registry import PARAM_SCHEDULERS
from emanet.utils.errors import ConfigError

from helpers.tiny_demo import DEMO_CONFIG, write_tiny_config
from helpers.tool_loader import load_tool

BASE_LR = 0.05  # the demo config's
CUT_WARNING = 'the schedule is cut where the run ends'


def _warning_lines(text):
    return [line for line in text.splitlines() if 'WARNING' in line]


def test_max_iters_override_carries_schedule_and_intervals(capsys):
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 800})
    assert [s['end'] for s in cfg.param_scheduler] == [20, 800]
    assert cfg.train_cfg.val_interval == 800
    assert cfg.default_hooks.checkpoint.interval == 800
    out = capsys.readouterr().out
    assert ('train_cfg.max_iters 400 -> 800: param_scheduler.1.end, '
            'train_cfg.val_interval, default_hooks.checkpoint.interval '
            'equalled 400 and follow it') in out
    assert not _warning_lines(out)
    # An explicit value wins; a warm-up that now ends late is named.
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 10,
                                    'param_scheduler.1.begin': 5,
                                    'default_hooks.checkpoint.interval': 5})
    assert [(s['begin'], s['end']) for s in cfg.param_scheduler] == [
        (0, 20), (5, 10)]
    assert cfg.default_hooks.checkpoint.interval == 5
    warnings = _warning_lines(capsys.readouterr().out)
    assert len(warnings) == 1
    assert ('train_cfg.max_iters is 10 but param_scheduler.0.end = 20 '
            '(LinearLR) ends later (cut short, same shape): ' + CUT_WARNING
            ) in warnings[0]


def test_short_run_cuts_the_schedule_with_one_warning(capsys):
    """PolyLR begins after the warm-up, at 20: a 5-iteration run does not
    start it and runs the warm-up as written."""
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 5})
    assert [(s['type'], s['begin'], s['end'])
            for s in cfg.param_scheduler] == [('LinearLR', 0, 20)]
    assert cfg.train_cfg.val_interval == 5
    assert cfg.default_hooks.checkpoint.interval == 5
    out = capsys.readouterr().out
    assert ('train_cfg.max_iters 400 -> 5: train_cfg.val_interval, '
            'default_hooks.checkpoint.interval equalled 400 and follow it'
            ) in out
    warnings = _warning_lines(out)
    assert len(warnings) == 1
    assert warnings[0].endswith(
        'train_cfg.max_iters is 5 but param_scheduler.0.end = 20 (LinearLR) '
        'ends later (cut short, same shape); param_scheduler.1.begin = 20 '
        '(PolyLR) is not before it (not started): the schedule is cut where '
        "the run ends; set the schedulers' begin and end with --cfg-options "
        'for another schedule')


def test_schedule_written_to_fit_is_kept():
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 4,
                                    'param_scheduler.0.end': 2,
                                    'param_scheduler.1.begin': 2})
    assert [(s['begin'], s['end']) for s in cfg.param_scheduler] == [
        (0, 2), (2, 4)]


def test_schedule_that_cannot_exist_is_refused():
    """A scheduler the user made end before it begins: mmengine's
    ValueError (a traceback, once training starts) named at once."""
    for options in ({'train_cfg.max_iters': 30, 'param_scheduler.1.end': 10},
                    {'param_scheduler.1.end': 10}):
        with pytest.raises(ConfigError) as err:
            load_config(DEMO_CONFIG, options)
        assert str(err.value) == (
            f'{DEMO_CONFIG}: param_scheduler[1]: begin=20 and end=10 '
            '(PolyLR): a scheduler has to end after it begins; set '
            'param_scheduler.1.end above 20 or param_scheduler.1.begin below '
            '10')


def test_every_scheduler_not_started_leaves_an_empty_schedule():
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 1,
                                    'param_scheduler.0.begin': 1})
    assert cfg.param_scheduler == []


# -- the schedules build and step as mmengine's ---------------------------
class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)  # [B, 1]
        return dict(loss=out.square().mean()) if mode == 'loss' else out


def _toy_runner(cfg, work_dir):
    """A Runner with the config's loop, optimizer and schedule, toy model."""
    data = [dict(inputs=torch.ones(2))] * 4
    return Runner(
        model=_Toy(), work_dir=str(work_dir), default_scope='emanet',
        train_dataloader=dict(
            dataset=data, batch_size=2, num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        train_cfg=cfg.train_cfg,
        optim_wrapper=dict(optimizer=dict(cfg.optim_wrapper.optimizer)),
        param_scheduler=cfg.param_scheduler,
        default_hooks=dict(checkpoint=None, logger=None),
        log_level='WARNING')


def _lrs(optimizer, schedulers, iters):
    """The LR of each iteration, stepped as ParamSchedulerHook does.

    ``optimizer`` is the one the schedulers were built on (an optimizer or
    an OptimWrapper).
    """
    found = []
    for _ in range(iters):
        found.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return found


def _toy_optimizer():
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=BASE_LR)


def _warmup_lrs(iters):
    optimizer = _toy_optimizer()
    warmup = LinearLR(optimizer, start_factor=0.1, begin=0, end=20,
                      by_epoch=False)
    return _lrs(optimizer, [warmup], iters)


@pytest.mark.parametrize('max_iters', [1, 5, 19, 20, 21, 400, 800])
def test_demo_schedule_builds_in_the_runner(max_iters, tmp_path):
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': max_iters})
    runner = _toy_runner(cfg, tmp_path)
    assert runner.train_loop.max_iters == max_iters
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    schedulers = runner.build_param_scheduler(runner.param_schedulers)
    assert [type(s).__name__ for s in schedulers] == (
        ['LinearLR'] if max_iters <= 20 else ['LinearLR', 'PolyLR'])
    lrs = _lrs(runner.optim_wrapper, schedulers, max_iters)
    assert lrs[:20] == pytest.approx(_warmup_lrs(min(max_iters, 20)),
                                     rel=1e-12)
    assert all(0 < lr < BASE_LR * (1 + 1e-9) for lr in lrs)


@pytest.mark.parametrize('options', [
    {'train_cfg.max_iters': 1}, {'train_cfg.max_iters': 2},
    {'train_cfg.max_iters': 1, 'param_scheduler.0.begin': 1},
], ids=['single', 'single-2', 'empty'])
def test_runner_trains_with_a_cut_schedule(options, tmp_path):
    cfg = load_config(DEMO_CONFIG, options)
    runner = _toy_runner(cfg, tmp_path)
    runner.train()
    assert runner.iter == options['train_cfg.max_iters']


def test_lr_of_a_longer_run_equals_mmengine_for_the_written_schedule():
    cfg = load_config(DEMO_CONFIG, {'train_cfg.max_iters': 30})
    optimizer = _toy_optimizer()
    built = [PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=optimizer))
             for s in cfg.param_scheduler]
    lrs = _lrs(optimizer, built, 30)
    optimizer = _toy_optimizer()
    written = [
        LinearLR(optimizer, start_factor=0.1, begin=0, end=20,
                 by_epoch=False),
        PolyLR(optimizer, eta_min=1e-4, power=0.9, begin=20, end=30,
               by_epoch=False)]
    assert lrs == _lrs(optimizer, written, 30)
    assert cfg.param_scheduler[1].end == 30
    assert lrs[20] > lrs[28] > lrs[29] == pytest.approx(1e-4)  # eta_min


# -- a smoke run through tools/train.py -----------------------------------
# One validation, at the end of the run.
SMOKE = 'train_cfg = dict(max_iters=4, val_interval=4)\n'


@pytest.mark.slow
def test_five_iterations_train_with_the_warmup_lrs(demo_data_root, tmp_path,
                                                   capsys):
    main = load_tool('tools/train.py').main
    config = write_tiny_config(tmp_path / 'tiny.py', demo_data_root, SMOKE)
    work_dir = tmp_path / 'work'
    main([config, '--work-dir', str(work_dir), '--cfg-options',
          'train_cfg.max_iters=5'])
    warnings = [line for line in _warning_lines(capsys.readouterr().out)
                if CUT_WARNING in line]
    assert len(warnings) == 1
    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(logs[0]) as f:
        train_lines = [r for r in map(json.loads, f) if 'loss' in r]
    assert [r['iter'] for r in train_lines] == [1, 2, 3, 4, 5]
    assert [r['lr'] for r in train_lines] == pytest.approx(
        _warmup_lrs(5), rel=1e-12)
    assert osp.isfile(work_dir / 'iter_5.pth')
