"""Training and testing machinery plugged into mmengine's Runner."""
from . import hooks  # noqa: F401  (registers the hooks)
from .optim_wrappers import CPUAmpOptimWrapper
from .runner import SegRunner

__all__ = ['CPUAmpOptimWrapper', 'SegRunner']
