"""Exceptions raised for bad data set files."""
from emanet.utils.errors import UserError


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
