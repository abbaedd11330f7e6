"""The hooks SegRunner's guarantees rest on, added when a config lacks them.
"""
from typing import Iterable, Optional

from mmengine.hooks import Hook

from emanet.utils.errors import ConfigError

from .fast_inference_hook import FastInferenceHook
from .final_val_hook import FinalValidationHook
from .interrupt_hook import InterruptHook
from .loss_check_hook import NonFiniteLossHook
from .random_state_hook import ValRandomStateHook

#: Registered with their defaults when the config's ``custom_hooks`` lacks
#: them: the NaN stop, the clean stop on signals, the training random state
#: across validation, the final validation of a run resumed at its end.
GUARANTEE_HOOKS = (NonFiniteLossHook, InterruptHook, ValRandomStateHook,
                   FinalValidationHook)


def first_hook(hooks: Iterable[Hook], cls: type) -> Optional[Hook]:
    """The first hook of type ``cls`` in ``hooks`` (``runner.hooks``)."""
    return next((hook for hook in hooks if isinstance(hook, cls)), None)


def add_guarantee_hooks(runner, fast_inference: Optional[dict]) -> None:
    """Register what the config's hooks lack (one log line names them).

    Args:
        runner: the Runner, its config's hooks registered.
        fast_inference: the config's ``fast_inference``: when set, a
            :class:`FastInferenceHook` is added.

    Raises:
        ConfigError: ``fast_inference`` and a ``FastInferenceHook`` in
            ``custom_hooks``.
    """
    missing = [cls for cls in GUARANTEE_HOOKS
               if first_hook(runner.hooks, cls) is None]
    for cls in missing:
        runner.register_hook(cls())
    if missing:
        names = ', '.join(cls.__name__ for cls in missing)
        runner.logger.info(f'custom_hooks lacks {names}, which the '
                           'guarantees of SegRunner need: added with '
                           'default arguments.')
    if fast_inference is not None:
        if first_hook(runner.hooks, FastInferenceHook) is not None:
            raise ConfigError(
                'fast_inference and a FastInferenceHook in custom_hooks '
                'both ask for the fast path; keep one')
        runner.register_hook(FastInferenceHook(fast_inference))


def restore_signal_handlers(hooks: Iterable[Hook]) -> None:
    """Put back the signal handlers the ``InterruptHook`` set, if any."""
    for hook in hooks:
        if isinstance(hook, InterruptHook):
            hook.restore_signal_handlers()
