"""mmengine's CheckpointHook with crash-safe bookkeeping."""
import os.path as osp
from collections import deque
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from emanet.engine.last_checkpoint import RECORD, write_last_checkpoint
from emanet.engine.work_dir import write_error
from emanet.registry import HOOKS
from emanet.utils.atomic_io import remove_stale_tmp_files

#: Runtime-info key of the latest checkpoint written completely (or resumed
#: from): set by ``SegRunner``, which writes only finite checkpoints.
LAST_SAVED_CKPT = 'last_saved_ckpt'


def last_saved_checkpoint(runner) -> Optional[str]:
    """The checkpoint to restart from after a failure, if any.

    Under ``SegRunner`` the latest checkpoint written completely (or
    resumed from); under mmengine's ``Runner`` the latest one it started to
    write (``last_ckpt``).
    """
    hub = runner.message_hub
    return hub.get_info(LAST_SAVED_CKPT) or hub.get_info('last_ckpt')


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """Same arguments and config key as mmengine's ``CheckpointHook``.

    Registered under the same name in the ``emanet`` scope, so configs with
    ``default_scope = 'emanet'`` get it without change. It differs in the
    order of the steps, so that a process killed at any moment leaves a
    loadable checkpoint that ``last_checkpoint`` names:

    1. write the new checkpoint (atomically, by ``SegRunner``);
    2. rewrite ``last_checkpoint`` atomically, after the rename;
    3. only then delete checkpoints beyond ``max_keep_ckpts`` (mmengine
       deletes them before writing the new one).

    Temporary files left by a killed save are removed when training starts
    (not those of a process that still runs). :meth:`save_at` writes a
    checkpoint outside the interval (``InterruptHook``).
    """

    def before_train(self, runner) -> None:
        if self.file_client_args is not None:
            super().before_train(runner)
        else:
            self._setup_without_file_client(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            for folder in {self.out_dir, runner.work_dir}:
                for name in remove_stale_tmp_files(folder):
                    runner.logger.info(
                        f'Removed {name}, left by an interrupted save.')

    def _setup_without_file_client(self, runner) -> None:
        """mmengine's ``before_train`` minus its unused ``FileClient``.

        mmengine builds a ``FileClient`` even when no ``file_client_args``
        are given and nothing uses it, which logs two deprecation warnings
        on every run; the file backend is all the hook needs.
        """
        if self.out_dir is None:
            self.out_dir = runner.work_dir
        self.file_backend = get_file_backend(
            self.out_dir, backend_args=self.backend_args)
        if self.out_dir != runner.work_dir:
            basename = osp.basename(runner.work_dir.rstrip(osp.sep))
            self.out_dir = self.file_backend.join_path(self.out_dir, basename)
        runner.logger.info(f'Checkpoints will be saved to {self.out_dir}.')
        info = runner.message_hub.runtime_info
        if self.save_best is not None:
            if len(self.key_indicators) == 1:
                self.best_ckpt_path = info.get('best_ckpt')
            else:
                self.best_ckpt_path_dict = {
                    key: info.get(f'best_ckpt_{key}')
                    for key in self.key_indicators
                }
        if self.max_keep_ckpts > 0:
            keep_ckpt_ids = list(info.get('keep_ckpt_ids', []))
            while len(keep_ckpt_ids) > self.max_keep_ckpts:
                path = self.file_backend.join_path(
                    self.out_dir,
                    self.filename_tmpl.format(keep_ckpt_ids.pop(0)))
                if is_main_process() and self.file_backend.isfile(path):
                    self.file_backend.remove(path)
            self.keep_ckpt_ids = deque(keep_ckpt_ids, self.max_keep_ckpts)

    def save_at(self, runner, step: int) -> str:
        """Write the checkpoint of iteration ``step`` now.

        Nothing is written when the latest checkpoint is that one already.

        Args:
            runner: the Runner.
            step (int): the iteration (1-based) the checkpoint is named by.

        Returns:
            str: the checkpoint's file name (``iter_<step>.pth``).
        """
        filename = self.filename_tmpl.format(step)
        last = runner.message_hub.get_info('last_ckpt') or ''
        if not last.endswith(filename):
            self._save_checkpoint_with_step(
                runner, step, meta=dict(epoch=runner.epoch, iter=step))
        return filename

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

        previous_ckpt = runner.message_hub.get_info(LAST_SAVED_CKPT) or \
            self.last_ckpt
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        try:
            write_last_checkpoint(runner.work_dir, self.last_ckpt)
        except OSError as err:
            raise write_error(osp.join(runner.work_dir, RECORD), err,
                              previous_ckpt) from err
        if outdated is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)  # deepspeed checkpoints
