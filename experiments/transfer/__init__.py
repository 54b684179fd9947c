"""Study 1 (scratch vs staged transfer training time) as a package.

``study`` is the command (``python cli.py experiment transfer``); ``plan`` lists the runs and
their settings, ``runner`` fits one run through :func:`lightning_modules.trainer.fit_stage`,
``callbacks`` holds what the study adds to each fit, ``progress`` the live display, ``lock``
the study folder's owner lock, ``report``/``compare``/``plot`` the tables and figures.
"""
from typing import Any

__all__ = ["QUICK", "add_parser", "build_parser", "main", "options_from_args"]


def __getattr__(name: str) -> Any:
    """The command's names, from ``study`` (imported when first asked for)."""
    if name in __all__:
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
