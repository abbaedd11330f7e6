"""Snapshot and restore every random number generator training uses.

The snapshot holds only tensors, ints and floats, so it can live in a
checkpoint loaded with ``torch.load(weights_only=True)``.
"""
import random
from typing import Any, Dict

import numpy as np
import torch


def get_random_state() -> Dict[str, Any]:
    """State of Python's, numpy's and torch's (CPU and CUDA) generators."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = dict(
        python=dict(version=version, state=list(py_state), gauss=py_gauss),
        numpy=dict(
            name=name,
            keys=torch.from_numpy(keys.astype(np.int64)),  # [624]
            pos=int(pos),
            has_gauss=int(has_gauss),
            gauss=float(gauss)),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _to_cpu(value: Any) -> Any:
    """``value`` with every tensor in it copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


def set_random_state(state: Dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`get_random_state`.

    The snapshot may come from a checkpoint loaded onto a GPU (mmengine's
    resume maps every tensor there); the generators' states are CPU byte
    tensors (numpy's keys an int64 tensor), so they are moved back first.
    """
    state = _to_cpu(state)
    py = state['python']
    random.setstate((py['version'], tuple(py['state']), py['gauss']))
    npy = state['numpy']
    np.random.set_state(
        (npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
         npy['has_gauss'], npy['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
