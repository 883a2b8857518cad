"""Domain errors of the validation package; the CLI prints each as one line."""


class ValidationError(Exception):
    """Base class: a problem the user can fix (bad data path, unwritable output, ...)."""


class DataError(ValidationError):
    """The dataset could not be found, read or verified."""


class OutputError(ValidationError):
    """The output folder could not be written (permissions, full disk)."""
