"""``cli.main`` in the test's own process: the exit code ``python cli.py`` would return and what it printed.

A ``python cli.py`` process costs seconds of imports (torch, Lightning, TensorFlow) before it does
anything; tests that are not about the process boundary run the same entry point here instead.
"""
from __future__ import annotations

from typing import Any


def run_main(capsys: Any, *args: Any) -> tuple[int, str, str]:
    """``cli.main(args)`` (each argument turned into ``str``) -> ``(exit code, stdout, stderr)``.

    ``capsys`` is pytest's fixture; output printed before the call is discarded.
    """
    import cli

    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
