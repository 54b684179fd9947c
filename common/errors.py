"""orchard's error tree and the guard that turns its errors into one line and exit code 2.

Every error a user can cause subclasses :class:`OrchardError`; each lives beside the code that
raises it (``DataError`` in ``datamodules``, ``ExportError`` in ``export`` ...). This module
imports no orchard package.
"""
from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Callable, Optional

EXIT_BAD_INPUT = 2


class OrchardError(RuntimeError):
    """A user-facing error: one line naming what and where, non-zero exit."""


class UsageError(OrchardError):
    """A command-line argument or setting that cannot be used (an unparsable value, a negative learning rate ...)."""


class OutputFolderError(OrchardError):
    """An output folder that may not be written or replaced (a file, or it holds someone else's files)."""


def one_line(error: BaseException) -> str:
    """The error's message on one line: the orchard error that caused it as it reads on the command line,
    any other error prefixed with its type."""
    error = root_cause(error)
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, OrchardError) else f"{type(error).__name__}: {text}"


def unwritable(e: OSError, out: Path) -> Optional[OutputFolderError]:
    """An OSError writing inside the output folder ``out`` (read-only, full, a file in the way) as one line.

    ``None`` when the error concerns another file and is not a full or read-only disk.
    """
    name = e.filename if isinstance(e.filename, str) else None
    inside = name is not None and (Path(name).resolve() == out.resolve() or out.resolve() in Path(name).resolve().parents)
    if not inside and e.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
        return None
    return OutputFolderError(f"cannot write {name or out} (--out {out}): {e.strerror or e}")


def root_cause(e: BaseException) -> BaseException:
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
        cause = root_cause(e)
        if isinstance(cause, OrchardError):
            print(f"error: {cause}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
