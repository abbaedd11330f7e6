"""emanet/utils/heap.py: freed heap pages go back to the system."""
import os
import subprocess
import sys

import pytest

from emanet.utils.heap import release_free_memory

# 200 blocks of 1 MiB on the heap (the mmap threshold set above them),
# all freed but the last, which pins the heap's top: free() alone cannot
# shrink it. Prints the resident MiB after the frees and after the trim.
PROBE = '''
import ctypes
from emanet.utils.heap import release_free_memory

def rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1]) // 1024

libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype = ctypes.c_void_p
blocks = [libc.malloc(1 << 20) for _ in range(200)]
for block in blocks:
    ctypes.memset(block, 1, 1 << 20)
for block in blocks[:-1]:
    libc.free(ctypes.c_void_p(block))
freed = rss_mib()
assert release_free_memory()
print(freed, rss_mib())
'''


@pytest.mark.skipif(not release_free_memory(),
                    reason='the C library has no malloc_trim (not glibc)')
def test_trim_returns_the_freed_pages_below_the_top():
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(4 << 20))
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, check=True,
                         capture_output=True, text=True).stdout
    freed, trimmed = map(int, out.split())
    assert freed - trimmed > 150  # of the ~199 MiB freed


def test_stream_predictions_trims_after_each_batch(monkeypatch):
    import torch

    from emanet.apis import batching
    calls = []
    monkeypatch.setattr(batching, 'release_free_memory',
                        lambda: calls.append(1))
    monkeypatch.setattr(batching, 'predict_batch',
                        lambda model, data: list(data['inputs']))
    items = [dict(inputs=torch.zeros(1), data_samples=None)
             for _ in range(5)]
    batches = list(batching.stream_predictions(None, items, batch_size=2,
                                               progress=False))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert len(calls) == 3
