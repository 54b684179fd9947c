"""argparse glue for cli.py's one command tree."""
from __future__ import annotations

import argparse
from typing import Any, Callable


def add_forwarding_parser(subparsers: Any, name: str, help: str, run: Callable[[list[str]], int]) -> argparse.ArgumentParser:
    """A subcommand whose module parses its own arguments: ``run`` gets every argument after ``name``.

    Its options (``--help`` included) are the module's own; the tree only names it.
    """
    parser = subparsers.add_parser(name, help=help, add_help=False, prefix_chars="\0")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(main=lambda args: run(args.rest))
    return parser


def add_group(subparsers: Any, name: str, help: str) -> Any:
    """A subcommand holding subcommands (``experiment transfer``); returns its ``add_subparsers()``."""
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.set_defaults(depth=2)  # the command words before the subcommand's own arguments
    return parser.add_subparsers(title="subcommands", dest=f"{name}_command", metavar="SUBCOMMAND", required=True)
