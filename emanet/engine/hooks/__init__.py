"""Runner hooks."""
from .checkpoint_hook import CheckpointHook
from .fast_inference_hook import FastInferenceHook
from .final_val_hook import FinalValidationHook
from .interrupt_hook import InterruptHook
from .loss_check_hook import NonFiniteLossHook
from .memory_hook import CPUMemoryLogHook
from .probability_hook import ProbabilityHook
from .progress_bar_hook import ProgressBarHook
from .random_state_hook import ValRandomStateHook
from .report_hook import ReportHook
from .visualization_hook import SegVisualizationHook

__all__ = [
    'CheckpointHook', 'CPUMemoryLogHook', 'FastInferenceHook',
    'FinalValidationHook', 'InterruptHook', 'NonFiniteLossHook',
    'ProbabilityHook', 'ProgressBarHook', 'ReportHook',
    'SegVisualizationHook', 'ValRandomStateHook'
]
