"""Mixed-precision optimizer wrapper that also runs on CPU."""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from emanet.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Autocast forward passes to bfloat16 without loss scaling.

    mmengine's ``AmpOptimWrapper`` refuses to start without an accelerator.
    bfloat16 has float32's exponent range, so gradients need no scaling and
    this wrapper works on CPU (and GPU) alike; ``tools/train.py --amp``
    picks it when CUDA is absent.

    Args:
        dtype (str or torch.dtype): Autocast type. Defaults to bfloat16.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ...).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), autocast(dtype=self.cast_dtype):
            yield
