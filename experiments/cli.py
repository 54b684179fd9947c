"""``python cli.py experiment transfer|latency``: the two studies end to end."""
from __future__ import annotations

import argparse
from typing import Any

from common.commands import add_forwarding_parser, add_group

HELP = "rerun a whole study: transfer | latency"
LATENCY_HELP = "study 2: train, export and time the four architectures"


def add_parser(subparsers: Any) -> argparse._SubParsersAction:
    """``experiment`` and its studies under ``subparsers``; returns the group's own subparsers."""
    from .transfer import study

    group = add_group(subparsers, "experiment", HELP)
    study.add_parser(group)
    add_forwarding_parser(group, "latency", LATENCY_HELP, run_latency)  # study 2 parses its own arguments
    return group


def run_latency(argv: list[str]) -> int:
    """``experiment latency ARGS``: study 2 (its module parses ``argv``)."""
    from . import latency

    return latency.main(argv)
