"""The project's one error type for what a user gave (a file, an option, a profile, a run folder): its message is
one line that the command-line tools print as it is; any other exception is a bug, shown with its traceback."""


class UserError(ValueError):
    """Something the user gave is wrong or in use; the message names it (file, row, option or key) and says what
    is wrong."""
