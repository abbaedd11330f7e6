"""Keep validation from moving the training random generators."""
from typing import Any, Dict, Optional

from mmengine.hooks import Hook

from emanet.registry import HOOKS
from emanet.utils.random_state import get_random_state, set_random_state


@HOOKS.register_module()
class ValRandomStateHook(Hook):
    """Restore every random generator after a validation.

    Validation draws random numbers (e.g. when its data loader starts), so
    without this hook training after a validation would differ from a run
    resumed at that point. The generators are saved at ``before_val`` and
    restored at ``after_val``; in between, :meth:`training_random_state`
    gives the saved state, which is what a checkpoint written during
    validation (a best checkpoint) must hold.

    One of the hooks ``SegRunner`` adds when ``custom_hooks`` lacks them.
    Priority ``HIGHEST``: the state is saved before other ``before_val``
    hooks run.
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._saved: Optional[Dict[str, Any]] = None

    def before_val(self, runner) -> None:
        self._saved = get_random_state()

    def after_val(self, runner) -> None:
        if self._saved is not None:
            set_random_state(self._saved)
            self._saved = None

    def training_random_state(self) -> Dict[str, Any]:
        """The generators as training left them.

        Returns:
            dict: The state saved when the running validation started, or
            the current state outside validation
            (:func:`emanet.utils.random_state.get_random_state`).
        """
        if self._saved is not None:
            return self._saved
        return get_random_state()
