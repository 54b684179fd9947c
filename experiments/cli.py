"""``python cli.py experiment transfer|latency``: the two studies end to end."""
from __future__ import annotations

import argparse
from typing import Any

from common.commands import add_group

HELP = "rerun a whole study: transfer | latency"


def add_parser(subparsers: Any) -> argparse._SubParsersAction:
    """``experiment`` and its studies under ``subparsers``; returns the group's own subparsers."""
    from . import latency
    from .transfer import study

    group = add_group(subparsers, "experiment", HELP)
    study.add_parser(group)
    latency.add_parser(group)
    return group
