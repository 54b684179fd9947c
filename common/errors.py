"""orchard's error tree and the guard that turns its errors into one line and exit code 2.

Every error a user can cause subclasses :class:`OrchardError`; each lives beside the code that
raises it (``DataError`` in ``datamodules``, ``ExportError`` in ``export`` ...). This module
imports no orchard package.
"""
from __future__ import annotations

import sys
from typing import Callable

EXIT_BAD_INPUT = 2


class OrchardError(RuntimeError):
    """A user-facing error: one line naming what and where, non-zero exit."""


class UsageError(OrchardError):
    """A command-line argument or setting that cannot be used (an unparsable value, a negative learning rate ...)."""


class OutputFolderError(OrchardError):
    """An output folder that may not be written or replaced (a file, or it holds someone else's files)."""


def _root_cause(e: BaseException) -> BaseException:
    """The first :class:`OrchardError` in ``e``'s chain of causes (``e`` itself when there is none)."""
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, OrchardError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return e


def run_guarded(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; an :class:`OrchardError` (also as the cause of another error) prints ``error: <message>``
    and returns 2."""
    try:
        return int(fn() or 0)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - re-raised unless it is an expected error
        cause = _root_cause(e)
        if isinstance(cause, OrchardError):
            print(f"error: {cause}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
