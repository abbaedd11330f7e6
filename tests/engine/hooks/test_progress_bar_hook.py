"""ProgressBarHook: one bar over the test images."""
from types import SimpleNamespace

from emanet.engine.hooks import ProgressBarHook
from emanet.registry import HOOKS


def test_bar_counts_images_and_closes():
    hook = HOOKS.build(dict(type='ProgressBarHook'))
    assert isinstance(hook, ProgressBarHook)
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=list(range(5))))
    hook.before_test_epoch(runner)
    bar = hook.bar
    hook.after_test_iter(runner, 0, outputs=[1, 2])
    hook.after_test_iter(runner, 1, outputs=[3, 4])
    assert bar.n == 4
    hook.after_test_iter(runner, 2, outputs=[5, 'padding'])
    assert bar.n == 5  # never past the number of images
    hook.after_test_epoch(runner)
    assert hook.bar is None
