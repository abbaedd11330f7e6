"""Publishing a checkpoint: the weights and data set meta, nothing else.

A training checkpoint also holds the optimizer state (SGD momentum: one
more copy of the weights), the LR schedulers, the message hub (logged
values) and every rank's random state, which only resuming needs. The
published file keeps ``state_dict`` and ``meta`` without the random
states, and is named after its content as mmsegmentation does:
``<name>-<first 8 hex digits of its sha256>.pth``.
"""
import hashlib
import io
import os.path as osp
from typing import Any, Dict, List, Tuple

import torch

from emanet.utils.atomic_io import atomic_write_bytes
from emanet.utils.errors import CheckpointError

from .fitting import nonfinite_tensors
from .loading import load_checkpoint_file

# Entries of ``meta`` that only resuming reads.
TRAINING_ONLY_META = ('random_state', )


def published_name(out_file: str, sha256: str) -> str:
    """``out.pth`` -> ``out-<sha256[:8]>.pth`` (mmsegmentation's naming)."""
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    return f'{stem}-{sha256[:8]}.pth'


def strip_checkpoint(checkpoint: Dict[str, Any],
                     filename: str = 'checkpoint'
                     ) -> Tuple[Dict[str, Any], List[str]]:
    """The publishable part of a checkpoint.

    Args:
        checkpoint: as :func:`load_checkpoint_file` reads it (a bare state
            dict is taken as the weights).
        filename: named in the messages.

    Returns:
        tuple: ``({'state_dict': ..., 'meta': ...}, names of what was
        dropped)``.

    Raises:
        CheckpointError: no weights, or weights holding NaN/Inf.
    """
    if 'state_dict' in checkpoint:
        state_dict = checkpoint['state_dict']
        dropped = sorted(k for k in checkpoint if k not in ('state_dict',
                                                            'meta'))
    else:  # a bare state dict: nothing to drop
        state_dict, dropped = checkpoint, []
    if not isinstance(state_dict, dict) or not any(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f'{filename} holds no model weights '
                              '(no tensors in its state_dict)')
    bad = nonfinite_tensors(state_dict)
    if bad:
        raise CheckpointError(
            f'{filename} has NaN/Inf in {len(bad)} tensors (first: '
            f'{bad[0]}); publish a checkpoint of before the divergence')
    meta = dict(checkpoint.get('meta') or {}) if 'state_dict' in \
        checkpoint else {}
    for key in TRAINING_ONLY_META:
        if key in meta:
            del meta[key]
            dropped.append(f'meta.{key}')
    published: Dict[str, Any] = {'state_dict': state_dict}
    if meta:
        published['meta'] = meta
    return published, dropped


def publish_checkpoint(in_file: str, out_file: str) -> Dict[str, Any]:
    """Write the publishable part of ``in_file`` under its hashed name.

    The file is serialised in memory, hashed and written crash-safe
    (temporary file, fsync, rename).

    Args:
        in_file: a training checkpoint (or a bare state dict).
        out_file: the name to publish under, e.g. ``emanet.pth``.

    Returns:
        dict: ``path`` (the file written), ``sha256``, ``dropped`` (the
        entries left out), ``size`` and ``in_size`` in bytes.

    Raises:
        CheckpointError: ``in_file`` is missing, not a safe checkpoint, or
            holds no (finite) weights.
    """
    if not osp.isfile(in_file):
        raise CheckpointError(f'checkpoint {in_file} does not exist')
    checkpoint = load_checkpoint_file(in_file)
    published, dropped = strip_checkpoint(checkpoint, in_file)
    buf = io.BytesIO()
    torch.save(published, buf)
    data = buf.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    path = published_name(out_file, sha256)
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise CheckpointError(f'folder {folder} of {out_file} does not '
                              'exist')
    atomic_write_bytes(path, data)
    return dict(path=path, sha256=sha256, dropped=dropped, size=len(data),
                in_size=osp.getsize(in_file))
