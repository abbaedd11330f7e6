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
from emanet.utils.errors import ConfigError
from emanet.utils.precision import resolve_amp_dtype

# mmengine's AmpOptimWrapper always builds a GradScaler from ``loss_scale``;
# a disabled one makes backward and step plain (no unscale, no inf check and
# its device sync): bfloat16 has float32's exponent range and needs none.
NO_LOSS_SCALING = dict(enabled=False)


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Autocast forward passes to bfloat16 without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to start without an accelerator.
    bfloat16 has float32's exponent range, so gradients need no scaling and
    this wrapper works on CPU and GPU alike; ``tools/train.py --amp``
    picks it when CUDA is absent. Where the device would emulate bfloat16
    (CPUs without AVX512-BF16/AMX), it trains in float32 and says so once
    (see :mod:`emanet.utils.precision`).

    Args:
        dtype (str, torch.dtype or None): Autocast type: ``'bfloat16'``
            (default), ``'float16'`` (CPU only), or ``None`` /
            ``'float32'`` for plain float32 training.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ...).

    Raises:
        ConfigError: float16 on CUDA, where gradients below float16's range
            would vanish without the loss scaling this wrapper lacks.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype, None] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        device = torch.device(get_device())
        self.cast_dtype: Optional[torch.dtype] = resolve_amp_dtype(
            dtype, device, what='CPUAmpOptimWrapper')
        if self.cast_dtype == torch.float16 and device.type == 'cuda':
            raise ConfigError(
                "optim_wrapper: CPUAmpOptimWrapper(dtype='float16') on "
                'CUDA would train without loss scaling (small gradients '
                "vanish in float16): use type='AmpOptimWrapper' with "
                "dtype='float16' and loss_scale='dynamic' (what --amp picks "
                "on CUDA), or dtype='bfloat16'")

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model):
            if self.cast_dtype is None:
                yield
                return
            with autocast(dtype=self.cast_dtype):
                yield


def amp_optim_wrapper_cfg(optim_cfg: dict, device_type: str,
                          dtype: Optional[str] = None) -> dict:
    """A copy of ``optim_cfg`` switched to mixed precision.

    CUDA: as mmsegmentation's ``--amp``, mmengine's ``AmpOptimWrapper`` in
    float16 with dynamic loss scaling; bfloat16 only when asked for
    (``dtype='bf16'``), then without loss scaling, and float32 with one log
    line where the GPU would emulate it. CPU: ``CPUAmpOptimWrapper``
    (bfloat16, or float32 where bfloat16 would be emulated). A config that
    is not a plain ``OptimWrapper`` is returned unchanged.

    Args:
        optim_cfg: the config's ``optim_wrapper``.
        device_type: ``'cuda'`` or ``'cpu'``.
        dtype: None or ``'auto'`` (the device's default above), ``'fp16'``
            or ``'bf16'`` (also ``'float16'``, ``'bfloat16'``).

    Raises:
        ConfigError: float16 on the CPU, where mmengine has no loss
            scaling.
    """
    optim_cfg = copy.deepcopy(optim_cfg)
    if optim_cfg.get('type', 'OptimWrapper') != 'OptimWrapper':
        return optim_cfg
    bf16 = dtype in ('bf16', 'bfloat16')
    fp16 = dtype in ('fp16', 'float16')
    if not (bf16 or fp16 or dtype in (None, 'auto')):
        raise ValueError(f'amp dtype {dtype!r} is not supported: use None, '
                         "'auto', 'bf16' or 'fp16'")
    if device_type != 'cuda':
        if fp16:
            raise ConfigError(
                '--amp fp16 needs CUDA: float16 training needs loss '
                'scaling, which mmengine has on GPUs only; use --amp '
                '(bfloat16) on the CPU')
        optim_cfg.update(type='CPUAmpOptimWrapper', dtype='bfloat16')
    elif not bf16:
        optim_cfg.update(type='AmpOptimWrapper', dtype='float16',
                         loss_scale='dynamic')
    elif resolve_amp_dtype('bf16', device_type, what='--amp bf16'):
        optim_cfg.update(type='AmpOptimWrapper', dtype='bfloat16',
                         loss_scale=copy.deepcopy(NO_LOSS_SCALING))
    return optim_cfg
