"""The project's own error for mistakes a user can fix: bad data, flags, checkpoints, run folders.

The CLIs print its message and exit with status 2 (`experiment.cli.run`); anything else is a
programming error and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in what the user gave: the message names the file or value and the fix."""


class DataError(UserError, ValueError):
    """A data file that cannot be read as the dataset promises (raised inside the tf.data graph too)."""


class MissingFile(DataError, FileNotFoundError):
    """A file or folder the dataset's layout names that is not there."""


class UnknownName(UserError, ValueError):
    """A model, protocol, dataset or weight record name that is not registered; the message lists the valid ones."""
