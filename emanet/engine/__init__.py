"""Training and testing machinery plugged into mmengine's Runner."""
from . import hooks  # noqa: F401  (registers the hooks)
from .loops import IterBasedTrainLoop
from .optim_wrappers import CPUAmpOptimWrapper, amp_optim_wrapper_cfg
from .runner import SegRunner

__all__ = [
    'CPUAmpOptimWrapper', 'IterBasedTrainLoop', 'SegRunner',
    'amp_optim_wrapper_cfg'
]
