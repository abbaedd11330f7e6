"""A training config's mixed-precision wrapper against this machine.

mmengine's ``AmpOptimWrapper`` asserts a GPU (CUDA, NPU, MLU or MUSA) when
it is built, at the start of ``train()``, after the environment dump, as a
bare ``AssertionError``. :func:`check_amp_device` says so in one line
before anything runs, and what serves on a CPU instead.
"""
from typing import Any

from mmengine.config import Config

from emanet.utils.errors import ConfigError


def _accelerator_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` would find its device."""
    import mmengine.device as device
    names = ('is_cuda_available', 'is_npu_available', 'is_mlu_available',
             'is_musa_available')
    return any(getattr(device, name, lambda: False)() for name in names)


def _is_amp_optim_wrapper(wrapper_type: Any) -> bool:
    """Whether ``optim_wrapper.type`` builds mmengine's AmpOptimWrapper (or
    a subclass of it)."""
    from mmengine.optim import AmpOptimWrapper

    from emanet.registry import OPTIM_WRAPPERS
    cls = (OPTIM_WRAPPERS.get(wrapper_type)
           if isinstance(wrapper_type, str) else wrapper_type)
    return isinstance(cls, type) and issubclass(cls, AmpOptimWrapper)


def check_amp_device(cfg: Config) -> None:
    """Refuse an ``AmpOptimWrapper`` to train on a machine without a GPU.

    Call it with the config a training run builds (after ``--amp`` is
    applied); testing and printing a config do not build the wrapper.

    Raises:
        ConfigError: one line naming the wrapper and what to use on a CPU.
    """
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        return
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if not _is_amp_optim_wrapper(wrapper_type) or _accelerator_available():
        return
    name = getattr(wrapper_type, '__name__', wrapper_type)
    raise ConfigError(
        f'{cfg.filename or "<config>"}: optim_wrapper: {name} needs a GPU '
        '(CUDA, NPU, MLU or MUSA) and this machine has none; on a CPU set '
        "optim_wrapper.type='CPUAmpOptimWrapper' (bfloat16, without "
        "loss_scale), or type='OptimWrapper' and tools/train.py --amp, "
        'which picks the wrapper for the device')
