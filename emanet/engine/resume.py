"""Restore the random generators of a checkpoint where training resumes."""
from typing import Any, Dict, Iterator, Optional

from emanet.utils.random_state import set_random_state


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
