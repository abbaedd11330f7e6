"""mmengine's CheckpointHook with crash-safe bookkeeping."""
import contextlib
import logging
from typing import Iterator, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.logging import MMLogger

from emanet.engine.checkpoint.last_checkpoint import (
    last_saved_checkpoint,
    record_checkpoint,
)
from emanet.registry import HOOKS
from emanet.utils.atomic_io import remove_stale_tmp_files

# What mmengine logs when its CheckpointHook builds the FileClient that
# nothing uses without ``file_client_args`` (two WARNINGs on every run).
_FILE_CLIENT_NOTICES = ('"FileClient" will be deprecated',
                        '"HardDiskBackend" is the alias')


class _DropNotices(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_FILE_CLIENT_NOTICES)


@contextlib.contextmanager
def _without_file_client_notices() -> Iterator[None]:
    """Drop mmengine's FileClient deprecation notices meanwhile."""
    logger = MMLogger.get_current_instance()  # where mmengine logs them
    notices = _DropNotices()
    logger.addFilter(notices)
    try:
        yield
    finally:
        logger.removeFilter(notices)


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """Same arguments and config key as mmengine's ``CheckpointHook``.

    Registered under the same name in the ``emanet`` scope, so configs with
    ``default_scope = 'emanet'`` get it without change. It differs in the
    order of the steps, so that a process killed at any moment leaves a
    loadable checkpoint that ``last_checkpoint`` names:

    1. write the new checkpoint (atomically, ``runner.save_checkpoint``);
    2. make it the last complete checkpoint: ``last_checkpoint`` rewritten
       atomically, after the rename
       (:func:`~emanet.engine.checkpoint.last_checkpoint.record_checkpoint`);
    3. only then delete checkpoints beyond ``max_keep_ckpts`` (mmengine
       deletes them before writing the new one).

    Temporary files left by a killed save are removed when training starts
    (not those of a process that still runs). :meth:`save_at` writes a
    checkpoint outside the interval (``InterruptHook``).
    """

    def before_train(self, runner) -> None:
        with _without_file_client_notices():
            super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            for folder in {self.out_dir, runner.work_dir}:
                for name in remove_stale_tmp_files(folder):
                    runner.logger.info(
                        f'Removed {name}, left by an interrupted save.')

    def save_at(self, runner, step: int) -> str:
        """Write the checkpoint of iteration ``step`` now.

        Nothing is written when the last complete checkpoint is that one
        already.

        Args:
            runner: the Runner.
            step (int): the iteration (1-based) the checkpoint is named by.

        Returns:
            str: the checkpoint's file name (``iter_<step>.pth``).
        """
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        if last_saved_checkpoint(runner) != path:
            self._save_checkpoint_with_step(
                runner, step, meta=dict(epoch=runner.epoch, iter=step))
        return filename

    # mmengine's one save path for interval, final and best checkpoints
    # deletes old files before writing and writes last_checkpoint in place;
    # no public method sets the order of these steps.
    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        outdated: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        record_checkpoint(runner, self.last_ckpt)
        if outdated is not None and is_main_process():
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)  # deepspeed checkpoints
