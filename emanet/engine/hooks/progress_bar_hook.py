"""A progress bar over the test images."""
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook

from emanet.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A tqdm bar with ETA over the test images (main process only).

    ``SegRunner.test`` calls :meth:`close` when testing ends with an
    error, so that the bar is drawn for the last time before the error's
    message, not after it when the bar is garbage collected.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.bar = None

    def before_test_epoch(self, runner) -> None:
        if is_main_process():
            from tqdm import tqdm
            total = len(runner.test_dataloader.dataset)
            self.bar = tqdm(total=total, unit='img', desc='test',
                            dynamic_ncols=True)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        if self.bar is not None:
            done = len(outputs) * get_world_size() if outputs else 0
            self.bar.update(min(done, self.bar.total - self.bar.n))

    def after_test_epoch(self, runner, metrics=None) -> None:
        self.close()

    def close(self) -> None:
        """Draw the bar a last time and end its line (idempotent)."""
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.close()
