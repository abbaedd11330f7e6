"""Where bfloat16 is fast, and the autocast type every ``amp`` option uses.

bfloat16 pays off only where the hardware computes it: on CPUs with
AVX512-BF16 or AMX (x86) or the BF16 extension (Arm), and on GPUs of the
Ampere generation or later. Elsewhere oneDNN or CUDA emulate it, about 100x
slower than float32 on a CPU. Every ``amp`` switch of the toolbox (training,
``tools/test.py``, the benchmarks, ``prepare_for_inference``) asks
:func:`resolve_amp_dtype`, which falls back to float32 with one log line
where bfloat16 would be emulated. ``EMANET_FORCE_BF16=1`` keeps bfloat16
anyway (to test numerics, say).
"""
import logging
import os
from typing import Any, Optional, Union

import torch
from mmengine.logging import print_log

FORCE_BF16_ENV = 'EMANET_FORCE_BF16'
_BF16_NAMES = ('bf16', 'bfloat16', torch.bfloat16)
_FP16_NAMES = ('fp16', 'float16', torch.float16)


def bf16_is_native(device: Union[str, torch.device] = 'cpu') -> bool:
    """Whether ``device`` computes bfloat16 in hardware.

    CPU: oneDNN's own check (AVX512-BF16 or AMX on x86, the BF16 extension
    on aarch64); it honours ``ONEDNN_MAX_CPU_ISA``. CUDA: the GPU's, without
    counting emulation.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.3 counts no emulation anyway
            return torch.cuda.is_bf16_supported()
    if device.type != 'cpu' or not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_forced() -> bool:
    """``EMANET_FORCE_BF16=1``: use bfloat16 even where it is emulated."""
    return os.environ.get(FORCE_BF16_ENV, '') not in ('', '0')


def cpu_description() -> str:
    """E.g. ``'AVX512, bf16 native, 2 threads'``: for benchmark lines."""
    native = 'native' if bf16_is_native('cpu') else 'emulated'
    return (f'{torch.backends.cpu.get_cpu_capability()}, bf16 {native}, '
            f'{torch.get_num_threads()} threads')


def resolve_amp_dtype(amp: Any, device: Union[str, torch.device],
                      what: str = 'amp') -> Optional[torch.dtype]:
    """The autocast dtype for an ``amp`` option, or None for float32.

    Args:
        amp: None/False/'fp32'/'float32' (float32), True/'auto' (bfloat16
            where native; on CUDA float16 otherwise), 'bf16'/'bfloat16' or
            'fp16'/'float16' (or the torch dtypes).
        device: where the model runs.
        what: the option's name for the fallback message.

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
    if bf16_is_native(device) or bf16_forced():
        return torch.bfloat16
    if device.type == 'cpu':
        why = (f'this CPU (capability '
               f'{torch.backends.cpu.get_cpu_capability()}) has no native '
               'bfloat16 and would emulate it about 100x slower')
    else:
        why = f'{device} has no native bfloat16'
    print_log(
        f'{what}: running float32 instead of bfloat16: {why}; set '
        f'{FORCE_BF16_ENV}=1 to use bfloat16 anyway.',
        logger='current', level=logging.INFO)
    return None
