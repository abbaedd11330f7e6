"""Peak host memory in the training log when there is no GPU."""
import resource
import sys
from typing import Optional

import torch
from mmengine.hooks import Hook

from emanet.registry import HOOKS


def peak_rss_mb() -> int:
    """Peak resident set size of this process, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak / 2**20) if sys.platform == 'darwin' else int(peak / 1024)


@HOOKS.register_module()
class CPUMemoryLogHook(Hook):
    """Log ``memory`` (peak RSS, MiB) with each training iteration.

    mmengine's log line has ``memory`` (CUDA max allocated) only on GPUs;
    this fills the same field on CPU so every log shows how much the job
    holds. Runs before ``LoggerHook`` (priority ``BELOW_NORMAL``).
    """

    priority = 'NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not torch.cuda.is_available():
            runner.message_hub.update_scalar('train/memory', peak_rss_mb())
