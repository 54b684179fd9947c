"""Turn the project's expected errors into one-line messages and a non-zero exit."""
from __future__ import annotations

import sys
from typing import Callable

EXIT_BAD_INPUT = 2


def expected_errors() -> tuple[type[BaseException], ...]:
    from datamodules.errors import DataError
    from lightning_modules.architectures import UnknownArchitectureError
    from lightning_modules.freezing import FreezeError
    from lightning_modules.init_from import CheckpointError

    errors: list[type[BaseException]] = [DataError, UnknownArchitectureError, FreezeError, CheckpointError, OrchardError]
    return tuple(errors)


class OrchardError(RuntimeError):
    """A user-facing error from a tool (export, benchmark, experiment): one line, non-zero exit."""


def _root_cause(e: BaseException) -> BaseException:
    seen = set()
    while id(e) not in seen:
        seen.add(id(e))
        nxt = e.__cause__ or e.__context__
        if nxt is None or isinstance(e, expected_errors()):
            break
        e = nxt
    return e


def run_guarded(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; an expected error prints ``error: <message>`` and exits 2."""
    try:
        return int(fn() or 0)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - re-raised unless it is an expected error
        cause = e if isinstance(e, expected_errors()) else _root_cause(e)
        if isinstance(cause, expected_errors()):
            print(f"error: {cause}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
