"""``python cli.py demo`` (``make demo``): both studies at small scale on the embedded (synthetic) sample data.

Prints where each report is.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from common.errors import run_guarded

HELP = "both studies at small scale on synthetic sample data (make demo)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``demo`` under ``subparsers``; runs :func:`main`."""
    parser = subparsers.add_parser("demo", help=HELP, description=__doc__)
    parser.set_defaults(main=main)
    return parser


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """Study 1 then study 2 with their quick presets; 0 when both finished."""
    from experiments import latency, transfer

    start = time.perf_counter()
    steps = [
        ("study 1: scratch vs staged transfer (quick preset, synthetic data)", transfer.main,
         ["--quick", "--out", "reports/transfer"]),
        ("study 2: train, export and time the four architectures (quick preset, synthetic data)", latency.main,
         ["--quick", "--out", "reports/latency"]),
    ]
    for title, fn, argv in steps:
        print(f"\n=== {title} ===", flush=True)
        code = run_guarded(lambda: fn(argv))
        if code:
            return code
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s (synthetic data: figures show the pipeline, "
          "not the paper's accuracy)")
    print("reports: reports/transfer/report.md, reports/latency/report.md")
    return 0
