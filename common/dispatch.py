"""Two-level subcommands (``benchmark latency``, ``experiment transfer``) by module name."""
from __future__ import annotations

import importlib
import sys


def dispatch(prog: str, table: dict[str, tuple[str, str]], argv: list[str]) -> int:
    """Run ``table[argv[0]]``'s module ``main(argv[1:])``; ``table``: name -> (module, help)."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(f"usage: {prog} {{{','.join(table)}}} ...\n")
        for name, (_, help_) in table.items():
            print(f"  {name:<12} {help_}")
        return 0 if argv else 2
    if argv[0] not in table:
        print(f"error: unknown {prog.split()[-1]} {argv[0]!r}; choose one of: {', '.join(table)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(table[argv[0]][0]).main(argv[1:]) or 0)
