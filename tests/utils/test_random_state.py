"""Random-state snapshots: restoring one repeats every generator's draws."""
import io
import random

import numpy as np
import pytest
import torch

from emanet.utils.random_state import get_random_state, set_random_state

from helpers.other_device import on_other_device, require_cpu_tensor


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


def test_snapshot_loaded_onto_a_gpu_restores(monkeypatch):
    """mmengine's resume on CUDA maps every checkpoint tensor to the GPU;
    generators take their states as CPU tensors only."""
    state = get_random_state()
    state['cuda'] = [torch.get_rng_state()]  # one GPU's generator
    first = _draws()
    restored = []
    set_torch = torch.set_rng_state

    def checked_set_rng_state(new_state):
        require_cpu_tensor(new_state, 'torch.set_rng_state')
        set_torch(new_state)

    def set_cuda_states(new_states):
        for one in new_states:
            require_cpu_tensor(one, 'torch.cuda.set_rng_state_all')
        restored.extend(new_states)

    monkeypatch.setattr(torch, 'set_rng_state', checked_set_rng_state)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_rng_state_all', set_cuda_states)
    on_gpu = on_other_device(state)
    with pytest.raises(TypeError):  # what the snapshot would meet
        on_gpu['numpy']['keys'].numpy()
    set_random_state(on_gpu)
    assert _draws() == first
    assert len(restored) == 1 and torch.equal(restored[0],
                                              state['cuda'][0])
