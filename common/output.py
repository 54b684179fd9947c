"""Whether third-party output (library tips, deprecations, model tables) is shown: ``--verbose`` / ORCHARD_VERBOSE=1."""
from __future__ import annotations

import os

VERBOSE_ENV = "ORCHARD_VERBOSE"


def verbose() -> bool:
    """``True`` when the user asked for third-party output (``cli.py --verbose`` sets ``ORCHARD_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "") not in {"", "0"}


def set_verbose(on: bool = True) -> None:
    """Ask for (or hide) third-party output in this process and the processes it starts."""
    os.environ[VERBOSE_ENV] = "1" if on else "0"
