"""``python cli.py benchmark latency``: TFLite ``invoke()`` latency (the paper's measurement), with
ONNX Runtime and PyTorch eager on the same input for comparison.

    python cli.py benchmark latency                               # export the four architectures now, time them
    python cli.py benchmark latency runs/export/alexnet/model_int8.tflite --threads 1
    python cli.py benchmark latency runs/export/alexnet           # an export folder: all its models

Writes ``results.json``, ``report.md``, ``latency.png`` into ``--out`` (default ``reports/latency``).
"""
# The arguments live here, torch-free, so cli.py's tree builds fast; the timing and grouping
# options are shared with ``experiment latency`` (study 2).
from __future__ import annotations

import argparse
import os
from typing import Any

from common.commands import add_command

HELP = "TFLite invoke() latency (the paper's measurement), with ONNX Runtime and PyTorch"
DEFAULT_OUT = "reports/latency"
DEFAULT_PHOTOS = 50  # real photo files per .tflite for the end-to-end timing
GROUPINGS = {"none": None, "apple_pear_noise": "apple_pear_noise"}


def default_threads() -> list[int]:
    """1 and the machine's physical core count (deduplicated): one thread as on a phone's single
    big core, and every core without oversubscribing hyper-threads."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover - psutil is a Lightning dependency
        physical = None
    physical = physical or os.cpu_count() or 1
    return sorted({1, int(physical)})


def add_grouping_option(parser: argparse.ArgumentParser) -> None:
    """``--grouping``: study 2's task (shared with ``experiment latency``)."""
    parser.add_argument("--grouping", choices=list(GROUPINGS), default="none",
                        help="none: every Fruits-360 class its own label (the paper's task, default); "
                             "apple_pear_noise: study 1's 3-class task")


def add_timing_options(parser: argparse.ArgumentParser, runs: int | None = 100, warmup: int | None = 10) -> None:
    """``--threads``, ``--runs``, ``--warmup``, ``--photos`` (shared with ``experiment latency``)."""
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help=f"thread counts (default: 1 and the physical core count: {' '.join(map(str, default_threads()))})")
    parser.add_argument("--runs", type=int, default=runs, help="timed calls per figure (default: "
                        + (f"{runs}, as the paper)" if runs else "the preset's)"))
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls after the first (default: "
                        + (f"{warmup})" if warmup is not None else "the preset's)"))
    parser.add_argument("--photos", type=int, default=DEFAULT_PHOTOS,
                        help="real photo files for the end-to-end timing (decode .. top-1) per .tflite (default: %(default)s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``benchmark latency``'s options."""
    parser.add_argument("models", nargs="*", help=".tflite files or export folders (default: export --arch now)")
    parser.add_argument("--arch", nargs="+", default=None, help="architectures to export with fresh weights "
                        "when no models are given (default: all four)")
    add_timing_options(parser)
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8"], choices=["float32", "float16", "int8"],
                        help="TFLite precisions to time (default: float32 int8)")
    parser.add_argument("--no-compare", action="store_true", help="time TFLite only (no ONNX Runtime / PyTorch)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="report folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    parser.add_argument("--data-root", default=None, help="Fruits-360 folder for real images (default: the synthetic sample)")
    parser.add_argument("--per-class", type=int, default=400)
    add_grouping_option(parser)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``benchmark latency`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "latency", HELP, __doc__, add_arguments, main)


def main(args: argparse.Namespace) -> int:
    """Run the benchmark from cli.py's parsed options (the measuring modules imported only now)."""
    from . import command

    return command.main(args)
