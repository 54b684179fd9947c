"""Fixtures of the export tests (the top-level tests/conftest.py's are visible here too)."""
from tests.helpers.export import exported, rejected_export  # noqa: F401  (registers the session-wide exports)
