"""CPUMemoryLogHook: peak host memory in the training log without a GPU."""
import glob
import os
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub

from emanet.engine.hooks import CPUMemoryLogHook
from emanet.engine.hooks.memory_hook import peak_rss_mb

from helpers.engine_toy import make_runner


@pytest.mark.skipif(not osp.exists('/proc/self/statm'),
                    reason='reads the current RSS from Linux /proc')
def test_peak_rss_mb_grows_by_what_is_touched_in_mib():
    import numpy as np
    with open('/proc/self/statm') as f:
        current = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    before = peak_rss_mb()
    # Touch enough to pass the peak by 64 MiB: the reading must grow by
    # about that (MiB, not KiB or bytes), whatever other tests did to
    # /proc's resettable VmHWM.
    size = (before + 64) * 2**20 - current
    block = np.ones(size, dtype=np.uint8)
    grown = peak_rss_mb() - before
    del block
    assert 60 <= grown <= 80


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
