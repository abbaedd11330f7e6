"""The hooks the guarantees rest on: added when missing, named once."""
import signal
from types import SimpleNamespace

import pytest
from mmengine.logging import MMLogger

from emanet.engine.hooks import (
    FastInferenceHook,
    FinalValidationHook,
    InterruptHook,
    NonFiniteLossHook,
    ValRandomStateHook,
)
from emanet.engine.hooks.guarantees import (
    GUARANTEE_HOOKS,
    add_guarantee_hooks,
    first_hook,
    restore_signal_handlers,
)
from emanet.utils.errors import ConfigError


class _Runner(SimpleNamespace):
    """The hook list and logger of a Runner."""

    def register_hook(self, hook):
        self.hooks.append(hook)


def _runner(*hooks) -> _Runner:
    return _Runner(hooks=list(hooks),
                   logger=MMLogger.get_instance('guarantees_test'))


def test_missing_hooks_are_added_with_their_defaults(capsys):
    own = InterruptHook(save_on_interrupt=True)
    runner = _runner(own)
    add_guarantee_hooks(runner, None)
    assert [type(h) for h in runner.hooks] == [
        InterruptHook, NonFiniteLossHook, ValRandomStateHook,
        FinalValidationHook]
    assert runner.hooks[0] is own  # kept as configured
    assert set(GUARANTEE_HOOKS) == {type(h) for h in runner.hooks}
    assert 'custom_hooks lacks NonFiniteLossHook, ValRandomStateHook, ' \
        'FinalValidationHook, which the guarantees' in capsys.readouterr().out
    add_guarantee_hooks(runner, None)  # nothing lacks: nothing said
    assert len(runner.hooks) == 4
    assert capsys.readouterr().out == ''


def test_fast_inference_adds_its_hook_once():
    runner = _runner(*(cls() for cls in GUARANTEE_HOOKS))
    add_guarantee_hooks(runner, dict(winograd=False))
    fast = first_hook(runner.hooks, FastInferenceHook)
    assert fast.options == dict(winograd=False)
    with pytest.raises(ConfigError, match='keep one'):
        add_guarantee_hooks(runner, {})


def test_signal_handlers_are_restored_from_the_hook_list():
    before = signal.getsignal(signal.SIGTERM)
    hook = InterruptHook(signals=('SIGTERM', ))
    hook.before_train(_runner())
    assert signal.getsignal(signal.SIGTERM) != before
    restore_signal_handlers([NonFiniteLossHook(), hook])
    assert signal.getsignal(signal.SIGTERM) is before
