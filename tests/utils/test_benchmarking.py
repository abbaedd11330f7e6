"""Timing, peak memory, the device line and random batches."""
import sys

import pytest
import torch

from emanet.utils.benchmarking import (
    Timer,
    cpu_name,
    device_description,
    peak_memory,
    random_batches,
    reset_peak_memory,
)
from emanet.utils.precision import cpu_description

# Float-rounding sensitive: the README test command runs these again as
# on an AVX2-only CPU.
pytestmark = pytest.mark.numerics


def test_timer_reads_increasing_seconds():
    timer = Timer('cpu')
    start = timer.now()
    assert timer.now() >= start and not timer.cuda


def test_cpu_device_line_names_cpu_and_precision():
    line = device_description('cpu')
    assert line == f'cpu: {cpu_name()} ({cpu_description()})'
    assert cpu_name()


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='resettable peak RSS is Linux only')
def test_cpu_peak_memory_sees_a_new_allocation():
    reset_peak_memory('cpu')
    before, kind = peak_memory('cpu')
    assert kind == 'CPU peak RSS of the process' and before > 0
    block = torch.ones(64, 2**20 // 4)  # 64 MiB, written
    after, _ = peak_memory('cpu')
    del block
    assert after >= before + 48


def test_random_batches_are_seeded_and_shaped():
    first = random_batches((8, 12), 2, seed=3)
    again = random_batches((8, 12), 2, seed=3)
    assert len(first) == 2
    for a, b in zip(first, again):
        assert torch.equal(a['inputs'][0], b['inputs'][0])
    img = first[0]['inputs'][0]
    assert img.shape == (3, 8, 12) and img.dtype == torch.uint8
    sample = first[0]['data_samples'][0]
    assert sample.ori_shape == sample.img_shape == (8, 12)
    assert 'gt_sem_seg' not in sample


def test_random_training_batches_have_labels():
    batch = random_batches((64, 64), 1, batch_size=3, num_classes=7)[0]
    assert len(batch['inputs']) == len(batch['data_samples']) == 3
    labels = torch.stack([s.gt_sem_seg.data for s in batch['data_samples']])
    assert labels.shape == (3, 1, 64, 64)
    ignored = (labels == 255).float().mean().item()
    assert 0.02 < ignored < 0.08
    assert labels[labels != 255].max() < 7
