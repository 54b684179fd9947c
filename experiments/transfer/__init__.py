"""Study 1 (scratch vs staged transfer training time) as a package.

``study`` is the command (``python cli.py experiment transfer``); ``plan`` lists the runs and
their settings, ``runner`` fits one run through :func:`lightning_modules.trainer.fit_stage`,
``callbacks`` holds what the study adds to each fit, ``progress`` the live display, ``lock``
the study folder's owner lock, ``report``/``compare``/``plot`` the tables and figures.
"""
from .study import QUICK, build_parser, main, options_from_args

__all__ = ["QUICK", "build_parser", "main", "options_from_args"]
