"""The base class of errors a user can fix (config, data, checkpoint, disk).

The tools print such an error as one line, without a traceback, because the
message already names the file, key or value at fault and what to do.
"""


class UserError(Exception):
    """A problem in what the user gave: a config, a file, an option."""
