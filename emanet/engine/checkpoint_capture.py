"""Take the checkpoint mmengine assembles, for ``SegRunner`` to write.

mmengine's ``Runner.save_checkpoint`` builds the checkpoint dict, runs the
``before_save_checkpoint`` hooks and then writes it through a deprecated
``FileClient`` (two deprecation warnings per save, and no atomic rename).
``SegRunner`` keeps mmengine's assembly and hooks, and writes the dict
itself: a :class:`CheckpointCaptureHook`, registered after every other
hook, hands it over by raising :class:`CheckpointCaptured`.
"""
from mmengine.hooks import Hook


class CheckpointCaptured(Exception):
    """Carries the assembled checkpoint out of mmengine's save.

    Args:
        checkpoint (dict): the checkpoint, as the hooks left it.
    """

    def __init__(self, checkpoint: dict) -> None:
        super().__init__()
        self.checkpoint = checkpoint


class CheckpointCaptureHook(Hook):
    """Raise :class:`CheckpointCaptured` at ``before_save_checkpoint``.

    Only while :attr:`armed`; otherwise it does nothing. Not registered
    by name: ``SegRunner`` adds it after the config's hooks, so the
    checkpoint it takes is the one every other hook has edited.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.armed = False

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.armed:
            raise CheckpointCaptured(checkpoint)
