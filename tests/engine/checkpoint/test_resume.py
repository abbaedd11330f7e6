"""Resume: a resumed run repeats an uninterrupted one (toy model, CPU);
the generators of the checkpoint are restored once, right before the
first batch trained after a resume; weights alone are refused."""
import copy
import pickle
import random
import shutil

import numpy as np
import pytest
import torch

from emanet.engine.checkpoint.loading import load_checkpoint_file
from emanet.engine.checkpoint.resume import (
    RestoreRandomStateAfterSkip,
    resumable_meta,
)
from emanet.utils.errors import CheckpointError
from emanet.utils.random_state import get_random_state

from helpers.engine_toy import losses, make_runner


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


def _assert_same_state(a: dict, b: dict) -> None:
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    state_a, state_b = a['optimizer']['state'], b['optimizer']['state']
    assert state_a.keys() == state_b.keys()
    for idx in state_a:
        assert torch.equal(state_a[idx]['momentum_buffer'],
                           state_b[idx]['momentum_buffer'])
    assert a['param_schedulers'] == b['param_schedulers']
    assert torch.equal(a['meta']['random_state'][0]['torch'],
                       b['meta']['random_state'][0]['torch'])


def test_resume_matches_uninterrupted_run(tmp_path):
    full = make_runner(tmp_path / 'full', max_iters=8, interval=4)
    full.train()
    reference = losses(full)
    assert len(reference) == 8

    # "Killed after iteration 4": only iter_4.pth and last_checkpoint exist.
    killed = tmp_path / 'killed'
    killed.mkdir()
    shutil.copy(tmp_path / 'full' / 'iter_4.pth', killed / 'iter_4.pth')
    (killed / 'last_checkpoint').write_text(str(killed / 'iter_4.pth'))

    resumed = make_runner(killed, max_iters=8, interval=4, resume=True)
    resumed.train()
    assert losses(resumed) == reference  # bit-identical, iterations 1..8
    _assert_same_state(load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
                       load_checkpoint_file(str(killed / 'iter_8.pth')))
    assert torch.equal(full.model.bases, resumed.model.bases)

    # Resume from an explicit path (``--resume PATH``) into a new work dir.
    explicit = make_runner(tmp_path / 'explicit', max_iters=8, interval=4,
                           resume=True,
                           load_from=str(tmp_path / 'full' / 'iter_4.pth'))
    explicit.train()
    assert losses(explicit) == reference
    _assert_same_state(
        load_checkpoint_file(str(tmp_path / 'full/iter_8.pth')),
        load_checkpoint_file(str(tmp_path / 'explicit/iter_8.pth')))


def test_weights_alone_cannot_be_resumed_from(tmp_path):
    checkpoint = dict(state_dict={}, meta=dict(iter=4))
    with pytest.raises(CheckpointError, match='w.pth holds weights but no '
                       r'training state \(meta.iter, message_hub\)'):
        resumable_meta(checkpoint, 'w.pth')
    checkpoint['message_hub'] = {}
    assert resumable_meta(checkpoint, 'w.pth') == dict(iter=4)
