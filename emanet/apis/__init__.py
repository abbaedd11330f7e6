"""High-level API: build a segmentor, run it, draw its result.

The runs of ``tools/test.py`` and ``tools/train.py`` are built in
:mod:`emanet.apis.testing` and :mod:`emanet.apis.training`.
"""
from .inference import inference_model, init_model, show_result
from .utils import build_runner, resolve_device

__all__ = [
    'build_runner', 'inference_model', 'init_model', 'resolve_device',
    'show_result'
]
