"""Stop training at the first NaN/Inf loss, before it is checkpointed."""
import math
from typing import Dict, Optional

from mmengine.hooks import Hook

from emanet.engine.checkpoint.last_checkpoint import last_saved_checkpoint
from emanet.registry import HOOKS
from emanet.utils.errors import TrainingDivergedError


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`TrainingDivergedError` (a ``FloatingPointError``) when
    a loss term is NaN or infinite.

    Runs after ``RuntimeInfoHook`` has copied the iteration's ``log_vars``
    into the message hub as Python numbers, so the check costs no extra
    device synchronisation; and before ``CheckpointHook`` (priority
    ``LOW`` < ``VERY_LOW``), so the weights broken by the bad step are never
    saved: the last checkpoint on disk stays the last good one. One of the
    hooks ``SegRunner`` adds when ``custom_hooks`` lacks them.

    Args:
        keys (str): Substring selecting the logged values to check.
            Defaults to ``'loss'`` (``loss``, ``decode.loss_ce``, ...).
    """

    priority = 'LOW'

    def __init__(self, keys: str = 'loss') -> None:
        self.keys = keys

    def _values(self, runner, outputs: dict) -> Dict[str, float]:
        values = {}
        for key, value in outputs.items():
            if self.keys not in key:
                continue
            buffer = runner.message_hub.log_scalars.get(f'train/{key}')
            if buffer is not None and len(buffer.data[0]):
                values[key] = float(buffer.current())
            elif hasattr(value, 'item'):
                values[key] = float(value.detach().float().mean().item())
            else:
                values[key] = float(value)
        return values

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        bad = {k: v for k, v in self._values(runner, outputs).items()
               if not math.isfinite(v)}
        if not bad:
            return
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        raise TrainingDivergedError(
            f'Non-finite loss at iteration {runner.iter + 1} of '
            f'{runner.max_iters}: {terms}; training stopped before saving. '
            f'{TrainingDivergedError.advice(last_saved_checkpoint(runner))}')
