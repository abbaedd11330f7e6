"""Stop cleanly on SIGTERM / Ctrl-C, optionally saving a checkpoint."""
import signal
import threading
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, barrier, is_distributed
from mmengine.hooks import Hook

from emanet.registry import HOOKS

from .checkpoint_hook import CheckpointHook
from .fast_inference_hook import FastInferenceHook


@HOOKS.register_module()
class InterruptHook(Hook):
    """Turn SIGTERM / SIGINT into a clean stop at the end of the iteration.

    The first signal is recorded; training stops after the current
    iteration (or validation step), optionally writing a checkpoint through
    the ``CheckpointHook`` (:meth:`CheckpointHook.save_at`: atomic,
    ``last_checkpoint`` updated), and the process exits with status 128 +
    signal number (SIGTERM) or ``KeyboardInterrupt`` (SIGINT). A second
    signal interrupts at once.

    The handlers are put back after training; ``SegRunner`` also calls
    :meth:`restore_signal_handlers` when training ends with an error. One of
    the hooks ``SegRunner`` adds when ``custom_hooks`` lacks them.

    With several processes the stop is agreed on every iteration (one
    ``all_reduce`` of a flag), so all ranks stop at the same iteration, even
    when only one of them received the signal; they exit together once the
    checkpoint is written.

    Args:
        save_on_interrupt (bool): Save a checkpoint before exiting.
            Defaults to False.
        signals (tuple[str]): Signals handled. Defaults to
            ``('SIGTERM', 'SIGINT')``.
    """

    priority = 'LOWEST'  # after CheckpointHook at the same iteration

    def __init__(self,
                 save_on_interrupt: bool = False,
                 signals: tuple = ('SIGTERM', 'SIGINT')) -> None:
        self.save_on_interrupt = save_on_interrupt
        self.signals = tuple(getattr(signal, name) for name in signals)
        self._previous: Dict[int, object] = {}
        self._received: Optional[int] = None

    @property
    def received(self) -> Optional[int]:
        """The signal this process received during training, if any."""
        return self._received

    # Signal handling ------------------------------------------------------
    def _handle(self, signum: int, frame) -> None:
        if self._received is not None:  # second signal: stop right now
            self.restore_signal_handlers()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self._received = signum

    def before_train(self, runner) -> None:
        self._received = None
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning(
                'InterruptHook: not in the main thread, signals are not '
                'handled.')
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers found at ``before_train`` (idempotent)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def after_train(self, runner) -> None:
        self.restore_signal_handlers()

    # Stopping -------------------------------------------------------------
    def _agreed_signal(self) -> Optional[int]:
        if not is_distributed():
            return self._received
        flag = torch.tensor([float(self._received or 0)])
        if torch.cuda.is_available():
            flag = flag.cuda()
        all_reduce(flag, op='max')
        signum = int(flag.item())
        return signum or None

    def _stop(self, runner, signum: int, step: int) -> None:
        name = signal.Signals(signum).name
        saved = ''
        for hook in runner.hooks:
            if isinstance(hook, FastInferenceHook):
                # Stopped during validation: the checkpoint is of the
                # model that trains, not of the fast path's folded copy.
                hook.put_back_trained_model(runner)
        ckpt_hook = next((h for h in runner.hooks
                          if isinstance(h, CheckpointHook)), None)
        if self.save_on_interrupt and ckpt_hook is not None:
            filename = ckpt_hook.save_at(runner, step)
            saved = f'; checkpoint {filename} saved'
        if is_distributed():
            # Rank 0 writes the checkpoint: no rank exits before it is on
            # disk (srun --kill-on-bad-exit ends the job at the first exit).
            barrier()
        self.restore_signal_handlers()
        runner.logger.warning(
            f'{name} received: stopped after iteration {step}{saved}.')
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        signum = self._agreed_signal()
        if signum:
            self._stop(runner, signum, runner.iter + 1)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        if not self._previous:  # not training (tools/test.py)
            return
        signum = self._agreed_signal()
        if signum:
            # The train loop has already counted the finished iteration.
            self._stop(runner, signum, runner.iter)
