"""Run the final validation that a run killed right before it missed."""
from mmengine.hooks import Hook

from emanet.registry import HOOKS


@HOOKS.register_module()
class FinalValidationHook(Hook):
    """Validate at the end of a run resumed from its final checkpoint.

    The final checkpoint is written before the final validation, so a run
    killed in between resumes with nothing left to train, and mmengine's
    train loop (which validates after training iterations only) would end
    without validating. This hook validates then, at ``after_train_epoch``,
    where the loop would have.

    One of the hooks ``SegRunner`` adds when ``custom_hooks`` lacks them.
    """

    priority = 'VERY_HIGH'  # before other after_train_epoch hooks

    def __init__(self) -> None:
        self._nothing_to_train = False

    def before_train(self, runner) -> None:
        # Called after the checkpoint is loaded: iter is the resumed one.
        self._nothing_to_train = 0 < runner.iter >= runner.max_iters

    def after_train_epoch(self, runner) -> None:
        if self._nothing_to_train and runner.val_loop is not None:
            self._nothing_to_train = False
            runner.val_loop.run()
