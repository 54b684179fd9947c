"""argparse glue for cli.py's one command tree."""
from __future__ import annotations

import argparse
from typing import Any, Callable


def add_group(subparsers: Any, name: str, help: str) -> Any:
    """A subcommand holding subcommands (``experiment transfer``); returns its ``add_subparsers()``."""
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.set_defaults(depth=2)  # the command words before the subcommand's own arguments
    return parser.add_subparsers(title="subcommands", dest=f"{name}_command", metavar="SUBCOMMAND", required=True)


def add_command(subparsers: Any, name: str, help: str, description: str | None,
                add_arguments: Callable[[argparse.ArgumentParser], None],
                main: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand ``name`` under ``subparsers`` with ``add_arguments``' options, run by ``main(args)``."""
    parser = subparsers.add_parser(name, help=help, description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(main=main)
    return parser


def standalone_parser(prog: str, description: str | None,
                      add_arguments: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """A command's parser on its own (its ``main`` given an argument list instead of cli.py's parsed options)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser
