"""FinalValidationHook: a run resumed after its last iteration validates."""
from types import SimpleNamespace

import pytest

from emanet.engine.hooks import FinalValidationHook


class _ValLoop:

    def __init__(self):
        self.runs = 0

    def run(self):
        self.runs += 1


@pytest.mark.parametrize('start, runs', [(8, 1), (4, 0), (0, 0)])
def test_validates_only_when_nothing_was_left_to_train(start, runs):
    loop = _ValLoop()
    runner = SimpleNamespace(iter=start, max_iters=8, val_loop=loop)
    hook = FinalValidationHook()
    hook.before_train(runner)
    runner.iter = 8  # the train loop ran what was left
    hook.after_train_epoch(runner)
    hook.after_train_epoch(runner)  # once at most
    assert loop.runs == runs


def test_no_validation_configured():
    runner = SimpleNamespace(iter=8, max_iters=8, val_loop=None)
    hook = FinalValidationHook()
    hook.before_train(runner)
    hook.after_train_epoch(runner)  # nothing to run, no error
