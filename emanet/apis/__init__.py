"""High-level API: build a segmentor, run it, draw its result."""
from .inference import inference_model, init_model, show_result
from .utils import prepare_launch, revert_sync_bn_cfg

__all__ = [
    'inference_model', 'init_model', 'show_result', 'prepare_launch',
    'revert_sync_bn_cfg'
]
