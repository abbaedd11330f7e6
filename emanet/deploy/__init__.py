"""Deployment, in two halves.

- :mod:`emanet.deploy.fast_path`: the PyTorch inference fast path used by
  the engine (``from emanet.deploy import prepare_for_inference``).
- :mod:`emanet.deploy.runtime`: ONNX export, the segmentors running an
  exported file in ONNX Runtime or OpenVINO, and int8 quantization; the
  runtimes (the ``deploy`` extra) are imported only when used.
"""
from .fast_path import prepare_for_inference

__all__ = ['prepare_for_inference']
