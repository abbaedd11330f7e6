"""Deployment: the PyTorch inference fast path, ONNX export and segmentors
running an exported file in ONNX Runtime or OpenVINO.

``from emanet.deploy import prepare_for_inference`` is the fast path's
import path. :mod:`emanet.deploy.export` and :mod:`emanet.deploy.backends`
import the runtimes (the ``deploy`` extra) only when used.
"""
from .fast_path import prepare_for_inference

__all__ = ['prepare_for_inference']
