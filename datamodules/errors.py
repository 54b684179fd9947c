"""Errors raised for bad input data: one line, naming the path or value."""
from common.errors import OrchardError


class DataError(OrchardError):
    """Missing, empty, corrupt or otherwise unusable data."""
