"""A toy model, data set and SegRunner factory for the engine tests.

The model draws from torch's generator (dropout) and the data set from
numpy's (a random offset per sample, like an augmentation), so a resume
that does not restore both would be caught. Also importable by the scripts
the tests run in a subprocess (``PYTHONPATH=tests``).
"""
import time

import numpy as np
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from emanet.engine.runner import SegRunner


class ToyModel(BaseModel):
    """Linear layer + dropout + a moving-average buffer (like EMA bases).

    Args:
        nan_at (int, optional): Forward call (1-based) whose ``loss_aux``
            is NaN.
        sleep (float): Seconds to sleep per training step.
    """

    def __init__(self, nan_at=None, sleep=0.0):
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.dropout = nn.Dropout(0.5)
        self.register_buffer('bases', torch.zeros(2))
        self.nan_at = nan_at
        self.sleep = sleep
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)  # [B, 4]
        out = self.linear(self.dropout(x))  # [B, 2]
        if mode != 'loss':
            return out
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)
        if self.training:
            with torch.no_grad():
                self.bases.mul_(0.9).add_(0.1 * out.mean(0))
        loss = (out - 1).pow(2).mean()
        aux = 0.5 * out.abs().mean()
        if self.calls == self.nan_at:
            aux = aux * float('nan')
        return dict(loss_main=loss, loss_aux=aux)


class ToyDataset(Dataset):
    """16 samples of 4 values, jittered with numpy's global generator."""

    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 16

    def __getitem__(self, idx):
        base = np.arange(4, dtype=np.float32) + idx
        jitter = np.random.uniform(-0.5, 0.5, 4).astype(np.float32)
        return dict(inputs=torch.from_numpy(base / 16 + jitter),
                    data_samples=None)


class CountMetric(BaseMetric):
    """Counts the samples evaluated (over every process)."""

    def __init__(self):
        super().__init__(prefix='toy')

    def process(self, data_batch, data_samples):
        self.results.append(len(data_batch['inputs']))

    def compute_metrics(self, results):
        return dict(count=float(sum(results)))


def eval_args(split: str) -> dict:
    """Runner arguments of a ``split`` ('val' or 'test') loop on the toy
    data set with :class:`CountMetric`."""
    return {
        f'{split}_dataloader': dict(
            dataset=ToyDataset(), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        f'{split}_cfg': dict(),
        f'{split}_evaluator': [CountMetric()],
    }


def make_runner(work_dir, max_iters=6, interval=2, nan_at=None, sleep=0.0,
                custom_hooks=None, max_keep_ckpts=-1, **kwargs) -> SegRunner:
    """A SegRunner training ToyModel on ToyDataset (CPU, seed 0)."""
    return SegRunner(
        model=ToyModel(nan_at=nan_at, sleep=sleep),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(
            type='PolyLR', by_epoch=False, power=0.9, eta_min=1e-3,
            end=max_iters),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook', by_epoch=False, interval=interval,
                max_keep_ckpts=max_keep_ckpts)),
        custom_hooks=custom_hooks,
        log_processor=dict(by_epoch=False, window_size=1),
        randomness=dict(seed=0, deterministic=True),
        default_scope='emanet',
        **kwargs)


def losses(runner) -> list:
    """Logged ``loss`` of every iteration so far (a resumed run's history
    includes the iterations before the checkpoint)."""
    values, _ = runner.message_hub.get_scalar('train/loss').data
    return [float(v) for v in values]
