"""What a resumed run restores besides mmengine's state.

mmengine's ``Runner.resume`` restores weights, optimizer, schedulers, the
message hub and the iteration. Here: the check that a file holds a
training state at all, and every rank's random generators, restored where
training goes on (:class:`RestoreRandomStateAfterSkip`), so a resumed run
repeats an uninterrupted one.
"""
import itertools
from typing import Any, Dict, Iterator, Optional

from emanet.utils.errors import CheckpointError
from emanet.utils.random_state import set_random_state


def resumable_meta(checkpoint: dict, filename: str) -> Dict[str, Any]:
    """The ``meta`` of a checkpoint that training can resume from.

    Raises:
        CheckpointError: weights only (no ``meta.iter`` or
            ``message_hub``).
    """
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'iter' not in meta or \
            'message_hub' not in checkpoint:
        raise CheckpointError(
            f'{filename} holds weights but no training state (meta.iter, '
            'message_hub), so training cannot resume from it; start from '
            'its weights with --load-from instead.')
    return meta


def restore_random_state(runner, meta: Dict[str, Any],
                         filename: str) -> None:
    """Restore the generators of ``meta`` where the train loop goes on.

    Called once mmengine has resumed the loop's iteration. A run resumed
    from its final checkpoint has nothing left to train: its data loader
    need not skip the trained batches (``FinalValidationHook`` runs the
    validation that was missed). With another number of processes than
    the checkpoint's, the generators are not restored (one warning).

    Args:
        runner: the Runner (``train_loop``, ``rank``, ``world_size``).
        meta (dict): the checkpoint's ``meta`` (:func:`resumable_meta`).
        filename (str): the checkpoint, named in the warning.
    """
    loop = runner.train_loop
    if loop.iter >= loop.max_iters:
        loop.dataloader_iterator = itertools.repeat(None)
        return
    states = meta.get('random_state')
    if not states or not hasattr(loop, 'dataloader_iterator'):
        return
    if len(states) != runner.world_size:
        runner.logger.warning(
            f'{filename} was written by {len(states)} process(es), this run '
            f'has {runner.world_size}: the data order and the augmentations '
            'after the resume cannot repeat those of an uninterrupted run '
            '(each process reads another share of the data; random '
            'generators are not restored). Iterations, learning rate, '
            'weights and optimizer state continue.')
        return
    loop.dataloader_iterator = RestoreRandomStateAfterSkip(
        loop.dataloader_iterator, loop.iter, states[runner.rank])


class RestoreRandomStateAfterSkip:
    """Wraps the train loop's data iterator on resume.

    mmengine's ``IterBasedTrainLoop`` resumes the data order by drawing (and
    discarding) ``iter`` batches. Drawing them also advances the random
    generators differently from the original run (which ran the model in
    between), so the generators saved at the checkpoint are restored right
    before the first batch that is trained on.

    Args:
        iterator: the loop's data iterator.
        skip (int): how many batches the loop discards first.
        state (dict): this rank's generators, as saved in the checkpoint
            (:func:`emanet.utils.random_state.get_random_state`).
    """

    def __init__(self, iterator: Iterator, skip: int,
                 state: Dict[str, Any]) -> None:
        self._iterator = iterator
        self._skip = skip
        self._state: Optional[Dict[str, Any]] = state
        self._count = 0

    def __iter__(self) -> 'RestoreRandomStateAfterSkip':
        return self

    def __next__(self) -> Any:
        if self._count == self._skip and self._state is not None:
            set_random_state(self._state)
            self._state = None
        self._count += 1
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        if name == '_iterator':  # not set yet (copy / pickle)
            raise AttributeError(name)
        return getattr(self._iterator, name)
