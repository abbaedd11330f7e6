"""ValRandomStateHook: validation leaves the training generators alone."""
import random

import numpy as np
import torch

from emanet.engine.hooks import ValRandomStateHook
from emanet.utils.random_state import get_random_state, set_random_state


def _draw() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_generators_are_restored_after_validation():
    hook = ValRandomStateHook()
    hook.before_val(None)
    saved = get_random_state()
    expected = _draw()  # what training would draw next
    set_random_state(saved)
    _draw(), _draw()  # validation draws
    # A checkpoint written now (best checkpoint) holds the training state.
    assert torch.equal(hook.training_random_state()['torch'],
                       saved['torch'])
    hook.after_val(None)
    assert _draw() == expected


def test_outside_validation_the_state_is_the_current_one():
    hook = ValRandomStateHook()
    torch.rand(3)
    assert torch.equal(hook.training_random_state()['torch'],
                       torch.get_rng_state())
    hook.after_val(None)  # no validation started: nothing to restore
