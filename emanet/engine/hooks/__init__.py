"""Runner hooks."""
from .checkpoint_hook import CheckpointHook
from .interrupt_hook import InterruptHook
from .loss_check_hook import NonFiniteLossHook
from .memory_hook import CPUMemoryLogHook
from .visualization_hook import SegVisualizationHook

__all__ = [
    'CheckpointHook', 'CPUMemoryLogHook', 'InterruptHook',
    'NonFiniteLossHook', 'SegVisualizationHook'
]
