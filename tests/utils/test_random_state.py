"""Random-state snapshots: restoring one repeats every generator's draws."""
import io
import random

import numpy as np
import torch

from emanet.utils.random_state import get_random_state, set_random_state


def _draws() -> tuple:
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(),
            np.random.randn(), torch.rand(4).tolist())


def test_restore_repeats_python_numpy_and_torch_draws():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gauss value in Python's state
    state = get_random_state()
    first = _draws()
    _draws()  # move every generator on
    set_random_state(state)
    assert _draws() == first


def test_snapshot_loads_with_weights_only():
    """The snapshot lives in checkpoints read with weights_only=True."""
    state = get_random_state()
    first = _draws()
    buffer = io.BytesIO()
    torch.save(dict(meta=dict(random_state=[state])), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    set_random_state(loaded['meta']['random_state'][0])
    assert _draws() == first
