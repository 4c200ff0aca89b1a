"""The project's own error for mistakes a user can fix: bad data, flags, checkpoints, run folders.

The CLIs print its message and exit with status 2 (`experiment.cli.run`); anything else is a
programming error and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in what the user gave: the message names the file or value and the fix."""
