"""High-level API: build a segmentor, run it, draw its result; the
inferencer over files, folders and batches; models by name.

The runs of ``tools/test.py`` and ``tools/train.py`` are built in
:mod:`emanet.apis.testing` and :mod:`emanet.apis.training`.
"""
from .inference import inference_model, init_model, show_result
from .inferencer import MMSegInferencer
from .model_zoo import list_models
from .utils import build_runner, resolve_device

__all__ = [
    'MMSegInferencer', 'build_runner', 'inference_model', 'init_model',
    'list_models', 'resolve_device', 'show_result'
]
