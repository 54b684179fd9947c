"""Errors raised for bad input data: one line, naming the path or value."""


class DataError(RuntimeError):
    """Missing, empty, corrupt or otherwise unusable data."""
