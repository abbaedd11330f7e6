"""InterruptHook: public handler restoring (errors: tests/engine/...)."""
import signal
from types import SimpleNamespace

from mmengine.logging import MMLogger

from emanet.engine.hooks import InterruptHook


def test_restore_signal_handlers_is_public_and_idempotent():
    before = signal.getsignal(signal.SIGTERM)
    hook = InterruptHook(signals=('SIGTERM', ))
    runner = SimpleNamespace(logger=MMLogger.get_instance('interrupt_test'))
    hook.before_train(runner)
    assert signal.getsignal(signal.SIGTERM) != before
    hook.restore_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) is before
    hook.restore_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) is before
