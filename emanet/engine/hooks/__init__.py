"""Runner hooks."""
from .checkpoint_hook import CheckpointHook
from .interrupt_hook import InterruptHook
from .loss_check_hook import NonFiniteLossHook
from .visualization_hook import SegVisualizationHook

__all__ = [
    'CheckpointHook', 'InterruptHook', 'NonFiniteLossHook',
    'SegVisualizationHook'
]
