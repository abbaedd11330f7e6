"""Where bfloat16 is fast, and the autocast type every ``amp`` option uses.

bfloat16 pays off only where the hardware computes it: on CPUs with
AVX512-BF16 or AMX (x86) or the BF16 extension (Arm), and on GPUs of the
Ampere generation or later. Elsewhere oneDNN or CUDA emulate it, 100x or more
slower than float32 on a CPU. Every ``amp`` switch of the toolbox (training,
``tools/test.py``, the benchmarks, ``prepare_for_inference``) asks
:func:`resolve_amp_dtype`, which falls back to float32 with one log line
where bfloat16 would be emulated. ``EMANET_FORCE_BF16=1`` keeps bfloat16
anyway (to test numerics, say); on a CPU that emulates it, one log line
then says how much slower it runs there (measured once per process).
"""
import functools
import logging
import os
import platform
import time
from typing import Any, FrozenSet, Optional, Union

import torch
from mmengine.logging import print_log

FORCE_BF16_ENV = 'EMANET_FORCE_BF16'
_BF16_NAMES = ('bf16', 'bfloat16', torch.bfloat16)
_FP16_NAMES = ('fp16', 'float16', torch.float16)


# x86 CPU flags of bfloat16 arithmetic units (Linux names).
_X86_BF16_FLAGS = {'avx512_bf16', 'amx_bf16', 'avx_ne_convert'}
# oneDNN ISA limits (ONEDNN_MAX_CPU_ISA) that still include those units.
_ONEDNN_BF16_ISA_TAGS = ('BF16', 'FP16', 'AMX', 'AVX10', 'VNNI_2')


@functools.lru_cache(maxsize=None)
def _linux_cpu_flags() -> Optional[FrozenSet[str]]:
    """The ``flags`` of /proc/cpuinfo; None where there is none."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return None


def _onednn_bf16_supported() -> bool:
    """oneDNN's check: on x86 it also says yes for plain AVX-512."""
    return (torch.backends.mkldnn.is_available()
            and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def bf16_is_native(device: Union[str, torch.device] = 'cpu') -> bool:
    """Whether ``device`` computes bfloat16 in hardware.

    CPU: oneDNN's check, which honours ``ONEDNN_MAX_CPU_ISA`` and, on
    aarch64, is the BF16 extension. On x86 it also accepts AVX-512 CPUs
    without bfloat16 units (Skylake to Ice Lake), where oneDNN emulates
    bfloat16 slower than float32; so x86 also needs AVX512-BF16, AMX or
    AVX-NE-CONVERT among the CPU flags, and an ``ONEDNN_MAX_CPU_ISA`` that
    keeps them. CUDA: the GPU's, without counting emulation.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.3 counts no emulation anyway
            return torch.cuda.is_bf16_supported()
    if device.type != 'cpu' or not _onednn_bf16_supported():
        return False
    if platform.machine().lower() not in ('x86_64', 'amd64'):
        return True
    flags = _linux_cpu_flags()
    if flags is not None and not flags & _X86_BF16_FLAGS:
        return False
    isa = os.environ.get('ONEDNN_MAX_CPU_ISA', 'ALL').upper()
    return isa in ('ALL', 'DEFAULT') or any(
        tag in isa for tag in _ONEDNN_BF16_ISA_TAGS)


def bf16_forced() -> bool:
    """``EMANET_FORCE_BF16=1``: use bfloat16 even where it is emulated."""
    return os.environ.get(FORCE_BF16_ENV, '') not in ('', '0')


def cpu_description() -> str:
    """E.g. ``'AVX512, bf16 native, 2 threads'``: for benchmark lines."""
    native = 'native' if bf16_is_native('cpu') else 'emulated'
    return (f'{torch.backends.cpu.get_cpu_capability()}, bf16 {native}, '
            f'{torch.get_num_threads()} threads')


def resolve_amp_dtype(amp: Any, device: Union[str, torch.device],
                      what: str = 'amp',
                      log: bool = True) -> Optional[torch.dtype]:
    """The autocast dtype for an ``amp`` option, or None for float32.

    Args:
        amp: None/False/'fp32'/'float32' (float32), True/'auto' (bfloat16
            where native; on CUDA float16 otherwise), 'bf16'/'bfloat16' or
            'fp16'/'float16' (or the torch dtypes).
        device: where the model runs.
        what: the option's name for the fallback message.
        log: log the fallback (and what forced bfloat16 costs); False to
            ask again what a run chose, which logged it already.

    Returns:
        torch.dtype or None: None where bfloat16 was asked for (explicitly
        or by ``True``) on a CPU that would emulate it, unless
        ``EMANET_FORCE_BF16=1``; the fallback is logged in one line.
    """
    if amp in (None, False, 'none', 'fp32', 'float32', torch.float32):
        return None
    device = torch.device(device)
    if amp in (True, 'auto'):
        if device.type == 'cuda' and not bf16_is_native(device):
            return torch.float16
        amp = 'bf16'
    if amp in _FP16_NAMES:
        return torch.float16
    if amp not in _BF16_NAMES:
        raise ValueError(f'{what}={amp!r} is not supported: use None, True, '
                         "'auto', 'bf16' or 'fp16'")
    if bf16_is_native(device):
        return torch.bfloat16
    if bf16_forced():
        if device.type == 'cpu' and log:
            _log_forced_emulation()
        return torch.bfloat16
    if not log:
        return None
    if device.type == 'cpu':
        why = (f'this CPU (capability '
               f'{torch.backends.cpu.get_cpu_capability()}) has no native '
               'bfloat16 and would emulate it 100x or more slower')
    else:
        why = f'{device} has no native bfloat16'
    print_log(
        f'{what}: running float32 instead of bfloat16: {why}; set '
        f'{FORCE_BF16_ENV}=1 to use bfloat16 anyway.',
        logger='current', level=logging.INFO)
    return None


def emulated_bf16_slowdown(repeats: int = 3) -> float:
    """How many times longer a small bfloat16 convolution takes than a
    float32 one on this CPU: the cost of forcing emulated bfloat16.

    A 3x3 convolution, ``[1, 32, 32, 32]`` input and 32 filters: under a
    millisecond in float32, so the measurement stays short even where
    bfloat16 is 100x slower. Best of ``repeats`` runs after one warm-up,
    on one thread (threads waiting for each other on a busy machine
    would blur the ratio).
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 32, 32, 32, generator=gen)  # [B, C, H, W]
    w = torch.randn(32, 32, 3, 3, generator=gen)  # [C_out, C_in, 3, 3]

    def best_time(dtype: torch.dtype) -> float:
        xd, wd = x.to(dtype), w.to(dtype)
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            torch.nn.functional.conv2d(xd, wd, padding=1)
            times.append(time.perf_counter() - start)
        return min(times[1:])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            bf16, fp32 = best_time(torch.bfloat16), best_time(torch.float32)
    finally:
        torch.set_num_threads(threads)
    return bf16 / max(fp32, 1e-9)


@functools.lru_cache(maxsize=None)
def _log_forced_emulation() -> None:
    """Say once per process what ``EMANET_FORCE_BF16=1`` costs here."""
    ratio = emulated_bf16_slowdown()
    times = f'{ratio:.0f}' if ratio >= 10 else f'{ratio:.1f}'
    print_log(
        f'{FORCE_BF16_ENV}=1: bf16 is emulated on this CPU: ~{times}x '
        'slower than float32 here (a small convolution, timed once); '
        f'unset {FORCE_BF16_ENV} to run float32.',
        logger='current', level=logging.WARNING)
