"""Timing, peak memory, the device line, the timed images and the
comparison of predictions."""
import os.path as osp
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

from emanet.structures import SegDataSample
from emanet.utils.benchmarking import (
    CallClock,
    Timer,
    compare,
    config_test_shape,
    cpu_name,
    device_description,
    load_test_batches,
    network_input_shape,
    peak_memory,
    random_batches,
    reset_peak_memory,
)
from emanet.utils.errors import UserError
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


def test_call_clock_adds_up_the_seconds_of_its_calls():
    clock = CallClock(lambda seconds: time.sleep(seconds) or seconds)
    assert clock.seconds == 0.0
    assert clock(0.02) == 0.02
    with pytest.raises(TypeError):
        clock()  # a failing call counts too, and raises
    clock(0.01)
    assert 0.03 <= clock.seconds < 1.0


def _cfg(pipeline, test_cfg=None, crop_size=None) -> Config:
    return Config(dict(test_pipeline=pipeline, crop_size=crop_size,
                       model=dict(test_cfg=test_cfg or {})))


def test_test_shape_from_the_resize_or_the_crop():
    keep = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(2048, 1024), keep_ratio=True)]
    assert config_test_shape(_cfg(keep)) == (1024, 2048)
    exact = [dict(type='Resize', scale=(96, 64), keep_ratio=False)]
    assert config_test_shape(_cfg(exact)) == (64, 96)
    assert config_test_shape(_cfg([], crop_size=(32, 48))) == (32, 48)
    with pytest.raises(UserError, match='pass --shape H W'):
        config_test_shape(_cfg([]))
    slide = dict(mode='slide', crop_size=(48, 40), stride=(32, 32))
    assert network_input_shape(_cfg(exact, slide)) == (48, 40)
    assert network_input_shape(_cfg(exact, dict(
        mode='slide', crop_size=40, stride=32))) == (40, 40)
    assert network_input_shape(_cfg(exact)) == (64, 96)


def test_test_batches_cycle_the_test_set(demo_data_root, capsys):
    from emanet.config import load_config

    from helpers.tiny_demo import DEMO_CONFIG
    cfg = load_config(DEMO_CONFIG, {
        'test_dataloader.dataset.data_root': str(demo_data_root)})
    batches = load_test_batches(cfg, 3)  # 2 val images: the first again
    assert len(batches) == 3
    names = [b['data_samples'][0].img_path for b in batches]
    assert names[0] == names[2] != names[1]
    cfg.test_dataloader.dataset.data_root = osp.join(demo_data_root, 'no')
    assert load_test_batches(cfg, 1) is None
    assert 'using random images' in capsys.readouterr().out


def _sample(logits: torch.Tensor) -> SegDataSample:
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=logits)  # [K, H, W]
    sample.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    return sample


def test_compare_gives_the_largest_logit_gap_and_equal_pixels():
    logits = torch.zeros(2, 2, 4)
    logits[1, :, :2] = 1  # class 1 on the left half
    other = logits.clone()
    other[0, 0, 0] = 2  # one pixel flips to class 0
    other[1, 1, 0] = 1.5  # a larger logit, same class
    max_diff, agreement = compare([_sample(logits)] * 2,
                                  [_sample(logits), _sample(other)])
    assert max_diff == 2.0
    assert agreement == 15 / 16
