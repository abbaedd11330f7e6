"""CPUMemoryLogHook: peak host memory in the training log without a GPU."""
import glob
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from engine_toy import make_runner
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub

from emanet.engine.hooks import CPUMemoryLogHook
from emanet.engine.hooks.memory_hook import peak_rss_mb


def _kernel_peak_mb() -> int:
    """VmHWM (peak resident set size) of this process, in MiB."""
    with open('/proc/self/status') as f:
        kib = re.search(r'^VmHWM:\s+(\d+) kB', f.read(), re.M).group(1)
    return int(kib) // 1024


@pytest.mark.skipif(not osp.exists('/proc/self/status'),
                    reason='reads the peak from Linux /proc')
def test_peak_rss_mb_is_the_kernels_peak_in_mib():
    before = _kernel_peak_mb()
    peak = peak_rss_mb()
    after = _kernel_peak_mb()
    # The peak only grows, so it lies between two readings of the kernel's,
    # up to the kernel's per-thread RSS counting slack (64 pages a thread,
    # folded in at different moments for the two readings): 1 MiB was seen.
    slack = 4
    assert before - slack <= peak <= after + slack
    assert peak > 0


def test_memory_is_logged_only_without_cuda(monkeypatch):
    hub = MessageHub.get_instance('memory_hook_test')
    runner = SimpleNamespace(message_hub=hub)
    hook = CPUMemoryLogHook()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    hook.after_train_iter(runner, 0)
    assert 'train/memory' not in hub.log_scalars  # mmengine logs CUDA's
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    low = peak_rss_mb()
    hook.after_train_iter(runner, 0)
    assert low <= hub.get_scalar('train/memory').current() <= peak_rss_mb()


def test_log_line_shows_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    runner = make_runner(tmp_path, max_iters=2,
                         custom_hooks=[dict(type='CPUMemoryLogHook')])
    types = [type(h) for h in runner.hooks]
    # Before LoggerHook, which writes the line of the same iteration.
    assert types.index(CPUMemoryLogHook) < types.index(LoggerHook)
    runner.train()
    with open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]) as f:
        lines = [line for line in f if 'Iter(train) [' in line]
    assert len(lines) == 2
    for line in lines:
        memory = re.search(r'  memory: (\d+)', line)
        assert memory and int(memory.group(1)) > 0, line
