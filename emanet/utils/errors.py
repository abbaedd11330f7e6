"""The errors a user can fix (config, data, checkpoint, disk), in one place.

The tools print such an error as one line, without a traceback, because the
message already names the file, key or value at fault and what to do
(:func:`run_tool`).
"""
import os
import sys
from typing import Any, Callable, List, Optional


class UserError(Exception):
    """A problem in what the user gave: a config, a file, an option."""


class ConfigError(UserError, ValueError):
    """A config entry names an unknown type or passes an unknown key."""


class ConfigTypeError(ConfigError, TypeError):
    """A config value has the wrong type (a string for a number, ...)."""


class BadDataError(UserError, ValueError):
    """A data file cannot be used (undecodable, wrong size, bad values).

    The message names the file and says what to check. Data sets with
    ``skip_bad_samples=True`` skip such samples in training.
    """


class MissingDataError(UserError, FileNotFoundError):
    """Data set files are missing: a folder, an image or its label.

    The message names the path and the expected layout.
    """


class DataRootError(UserError, FileExistsError):
    """A data set folder exists but holds something else."""


class DeviceError(UserError, RuntimeError):
    """A device is asked for that this machine does not have."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint cannot be loaded, or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint holds a Python object that could run code."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """A checkpoint or exported model file is missing or cannot be read."""


class WorkDirError(UserError, OSError):
    """The work dir cannot be created or written (a file, no permission,
    a full disk)."""


class OutputPathError(UserError, OSError):
    """An output file or folder cannot be written (a file where a folder
    is needed or the reverse, no permission, an unknown extension)."""


class TrainingDivergedError(UserError, FloatingPointError):
    """A loss, weight or buffer became NaN/Inf during training."""

    @staticmethod
    def advice(last: Optional[str]) -> str:
        """What to do after divergence, naming the last finite checkpoint.

        Args:
            last (str, optional): The last checkpoint written (the runner
                writes only finite ones).
        """
        if not last:
            return ('No checkpoint had been written: lower the learning '
                    'rate (optim_wrapper.optimizer.lr) and train again.')
        return (f'The last finite checkpoint is {last}: lower the learning '
                'rate (optim_wrapper.optimizer.lr) and start from it with '
                f'--load-from {last}; --resume {last} also restores the old '
                'learning rate with the optimizer state, so use it when the '
                'cause was elsewhere (labels outside the classes, float16 '
                'overflow with --amp).')


DEBUG_HELP = ('show the full traceback of errors in the config, data, '
              'checkpoint or options (also EMANET_DEBUG=1)')


def user_message(error: UserError) -> str:
    """The message of ``error`` as one line, without a DataLoader worker's
    traceback.

    An error in a worker process is raised again in the main process with
    the worker's traceback prepended to its message; the original message
    follows the last ``<module>.<class>: `` of that text. Line breaks
    inside the message (one line per config problem, the text of a
    ``cv2.error``) are joined (:func:`one_line`).
    """
    text = str(error)
    if 'Original Traceback' in text:
        name = type(error).__name__
        marker = text.rfind(f'{name}: ')
        if marker >= 0:
            text = text[marker + len(name) + 2:]
    return one_line(text)


def one_line(text: str) -> str:
    """``text`` with its lines joined into one.

    A line that starts with closing punctuation continues the one before
    (``"...in function 'imwrite'\\n); use .png"``), one after a
    sentence's end follows a space, any other after ``'; '``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = lines[0] if lines else ''
    for line in lines[1:]:
        if line[0] in ')]},.;:':
            joined += line
        elif joined[-1] in '.;:,?!':
            joined += ' ' + line
        else:
            joined += '; ' + line
    return joined


def run_tool(main: Callable[[List[str]], Any],
             argv: Optional[List[str]] = None) -> int:
    """Run a tool's ``main(argv)``; a :class:`UserError` is one last line.

    The message goes to stderr as ``error: <message>`` on one line (its
    line breaks joined, :func:`user_message`), without a traceback, and
    the exit status is 1; ``--debug`` among the arguments
    or ``EMANET_DEBUG=1`` lets the exception through with its traceback.
    Other exceptions (bugs) always keep their traceback.

    Args:
        main: the tool's entry point, called with ``argv``.
        argv: the arguments; ``sys.argv[1:]`` by default.

    Returns:
        int: the exit status for ``sys.exit``: 1 after a user error, else
        what ``main`` returned if an int (e.g. a converter's status), else
        0.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = '--debug' in argv or os.environ.get(
        'EMANET_DEBUG', '') not in ('', '0')
    try:
        status = main(argv)
    except UserError as e:
        if debug:
            raise
        sys.stdout.flush()
        print(f'error: {user_message(e)}', file=sys.stderr, flush=True)
        return 1
    return status if type(status) is int else 0
