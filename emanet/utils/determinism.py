"""Deterministic training on CUDA: what PyTorch needs and what cannot be.

``randomness.deterministic=True`` (``tools/train.py --deterministic``)
makes mmengine call ``torch.use_deterministic_algorithms(True)``. On the
CPU every kernel training uses is deterministic, so a resumed run repeats
an uninterrupted one bit for bit. On CUDA:

* cuBLAS (the matrix products of the EM iterations) is deterministic only
  with a fixed workspace, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which must
  be set before cuBLAS starts (:func:`set_cublas_workspace`); without it
  the first matrix product raises.
* the backward of the bilinear resize of the logits to the label size
  (``F.interpolate``) has no deterministic CUDA kernel and raises; so on
  CUDA such operations warn instead, and one log line says what stays
  non-deterministic (:func:`allow_nondeterministic_cuda_ops`).
"""
import logging
import os

import torch
from mmengine.logging import print_log

CUBLAS_WORKSPACE_ENV = 'CUBLAS_WORKSPACE_CONFIG'
# The setting PyTorch's reproducibility notes give (":16:8" also works).
CUBLAS_WORKSPACE = ':4096:8'
NONDETERMINISTIC_CUDA = (
    'deterministic on CUDA: cuDNN and cuBLAS are deterministic '
    f'({CUBLAS_WORKSPACE_ENV}={{workspace}}), but the backward of the '
    'bilinear resize (F.interpolate) has no deterministic CUDA kernel, so '
    'gradients, and the weights after them, may differ in the last bits '
    'between runs; data order, augmentations and random states are '
    'repeated.')


def set_cublas_workspace() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` where CUDA is present and the
    environment does not set it already. Call it before CUDA starts."""
    if torch.cuda.is_available():
        os.environ.setdefault(CUBLAS_WORKSPACE_ENV, CUBLAS_WORKSPACE)


def allow_nondeterministic_cuda_ops() -> None:
    """After ``torch.use_deterministic_algorithms(True)``, on CUDA: make
    the operations without a deterministic kernel warn instead of raise,
    and log one line naming what stays non-deterministic."""
    if not torch.cuda.is_available():
        return
    set_cublas_workspace()  # for runners not started by tools/train.py
    torch.use_deterministic_algorithms(True, warn_only=True)
    print_log(NONDETERMINISTIC_CUDA.format(
        workspace=os.environ[CUBLAS_WORKSPACE_ENV]),
        logger='current', level=logging.INFO)
