"""RestoreRandomStateAfterSkip: the generators of the checkpoint are
restored once, right before the first batch trained after a resume."""
import copy
import pickle
import random

import numpy as np
import pytest
import torch

from emanet.engine.resume import RestoreRandomStateAfterSkip
from emanet.utils.random_state import get_random_state


def _draws():
    """A batch drawn from all three generators, like an augmentation."""
    return (random.random(), float(np.random.rand()), torch.rand(1).item())


def _batches(num):
    """An iterator whose every ``next`` draws one batch."""
    return (_draws() for _ in range(num))


@pytest.mark.parametrize('skip', [0, 3])
def test_checkpoint_generators_drive_the_first_trained_batch(skip):
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    state = get_random_state()
    expected = [_draws(), _draws()]  # what the original run drew next
    wrapper = RestoreRandomStateAfterSkip(_batches(skip + 2), skip, state)
    assert iter(wrapper) is wrapper
    skipped = [next(wrapper) for _ in range(skip)]
    # The skipped batches came from generators moved on since the state.
    assert all(batch not in expected for batch in skipped)
    # Restored once: the second trained batch continues the sequence.
    assert [next(wrapper), next(wrapper)] == expected
    with pytest.raises(StopIteration):
        next(wrapper)


def test_items_and_attributes_come_from_the_wrapped_iterator():

    class Loader:
        """Stands in for mmengine's infinite data loader iterator."""

        def __init__(self):
            self._items = iter(['a', 'b'])
            self.epoch = 7

        def __next__(self):
            return next(self._items)

    wrapper = RestoreRandomStateAfterSkip(Loader(), 1, get_random_state())
    assert wrapper.epoch == 7
    assert list(wrapper) == ['a', 'b']
    with pytest.raises(AttributeError, match='missing'):
        assert wrapper.missing is None  # never reached: it raises


def test_copy_and_pickle_do_not_recurse():
    # Both look attributes up on an instance whose __init__ has not run.
    wrapper = RestoreRandomStateAfterSkip(iter([1, 2, 3]), 1,
                                          get_random_state())
    assert next(wrapper) == 1
    assert list(copy.copy(wrapper)) == [2, 3]
    wrapper = RestoreRandomStateAfterSkip(iter([1, 2, 3]), 1,
                                          get_random_state())
    assert list(pickle.loads(pickle.dumps(wrapper))) == [1, 2, 3]
