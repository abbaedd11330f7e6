"""mmengine's iteration-based training loop, quiet on resume."""
from typing import Any

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop as MMEngineIterBasedTrainLoop

from emanet.registry import LOOPS


def train_loop_cfg(loop: Any) -> Any:
    """``train_cfg`` with ``by_epoch=False`` and no ``type`` made this
    module's :class:`IterBasedTrainLoop` (mmengine would build its own
    class, bypassing the registry); anything else unchanged."""
    if isinstance(loop, dict) and 'type' not in loop and \
            loop.get('by_epoch') is False:
        loop = {k: v for k, v in loop.items() if k != 'by_epoch'}
        loop['type'] = 'IterBasedTrainLoop'
    return loop


@LOOPS.register_module()
class IterBasedTrainLoop(MMEngineIterBasedTrainLoop):
    """Same arguments and config name as mmengine's loop.

    A resumed run draws the batches trained before the checkpoint again, so
    that the data order goes on as in an uninterrupted run. mmengine logs
    that as a WARNING on every resume, which nobody can act on; here it is
    one INFO line.
    """

    def run(self):
        """Train to ``max_iters``, validating every ``val_interval``."""
        self.runner.call_hook('before_train')
        # One big epoch, as in mmengine.
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(f'Resumed at iteration {self._iter}: drawing the '
                      f'{self._iter} batches trained before it again, so '
                      'the data order goes on as without the stop.',
                      logger='current')
            for _ in range(self._iter):
                next(self.dataloader_iterator)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
