"""Mixed-precision optimizer wrappers: a CPU one and the config switch."""
import copy
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from emanet.registry import OPTIM_WRAPPERS
from emanet.utils.precision import bf16_is_native, resolve_amp_dtype


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Autocast forward passes to bfloat16 without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to start without an accelerator.
    bfloat16 has float32's exponent range, so gradients need no scaling and
    this wrapper works on CPU (and GPU) alike; ``tools/train.py --amp``
    picks it when CUDA is absent. Where the device would emulate bfloat16
    (CPUs without AVX512-BF16/AMX), it trains in float32 and says so once
    (see :mod:`emanet.utils.precision`).

    Args:
        dtype (str, torch.dtype or None): Autocast type: ``'bfloat16'``
            (default), ``'float16'``, or ``None`` / ``'float32'`` for plain
            float32 training.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ...).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype, None] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype: Optional[torch.dtype] = resolve_amp_dtype(
            dtype, get_device(), what='CPUAmpOptimWrapper')

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model):
            if self.cast_dtype is None:
                yield
                return
            with autocast(dtype=self.cast_dtype):
                yield


def amp_optim_wrapper_cfg(optim_cfg: dict, device_type: str) -> dict:
    """A copy of ``optim_cfg`` switched to mixed precision.

    CUDA: mmengine's ``AmpOptimWrapper``, bfloat16 where the GPU computes
    it natively, else float16 with dynamic loss scaling. CPU:
    ``CPUAmpOptimWrapper`` (bfloat16, or float32 where bfloat16 would be
    emulated). A config that is not a plain ``OptimWrapper`` is returned
    unchanged.
    """
    optim_cfg = copy.deepcopy(optim_cfg)
    if optim_cfg.get('type', 'OptimWrapper') != 'OptimWrapper':
        return optim_cfg
    if device_type == 'cuda':
        bf16 = bf16_is_native('cuda')
        optim_cfg.update(type='AmpOptimWrapper',
                         dtype='bfloat16' if bf16 else 'float16')
        if not bf16:
            optim_cfg['loss_scale'] = 'dynamic'
    else:
        optim_cfg.update(type='CPUAmpOptimWrapper', dtype='bfloat16')
    return optim_cfg
