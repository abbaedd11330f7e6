"""High-level API: build a segmentor, run it, draw its result."""
from .inference import inference_model, init_model, show_result
from .utils import (
                    CfgOptionsAction,
                    build_runner,
                    load_config,
                    prepare_launch,
                    resolve_device,
                    revert_sync_bn_cfg,
)

__all__ = [
    'CfgOptionsAction', 'build_runner', 'inference_model', 'init_model',
    'load_config', 'prepare_launch', 'resolve_device', 'revert_sync_bn_cfg',
    'show_result'
]
