"""``python cli.py benchmark workers``: study 1 on the same cores, as Ray workers and as one process, timed.

    python cli.py benchmark workers -- --n 10 --fruits-root ../shared/data/fruits360-mini --per-class 60 \\
        --cifar-root ../shared/data/cifar10-mini --cifar-dataset cifar10

Each variant is a whole ``python cli.py experiment transfer`` (the arguments after ``--`` plus the
variant's own) in a fresh process and a fresh study folder, timed from start to exit. The default
variants spend the same 2 cores two ways: ``--workers 2 --threads 1`` (two runs at once on Ray)
and ``--workers 1 --threads 2`` (one run at a time, both cores each). Writes ``results.json`` into
``--out``: each variant's wall time, engine (Ray's start-up seconds included), summed training
time and per-run test accuracies, and the wall-time ratio of every variant to the first.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common.atomic import atomic_dir, check_out_dir
from benchmarks.training.command import parse_variants  # NAME=ARGS, as benchmark training takes them
from common.commands import add_command, standalone_parser

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = ("results.json", "studies")
DEFAULT_VARIANTS = ["ray-2x1=--workers 2 --threads 1", "local-1x2=--workers 1 --threads 2"]
HELP = "study 1's wall time: Ray workers vs one process on the same cores"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``benchmark workers`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "workers", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's parser on its own (:func:`main` given an argument list)."""
    return standalone_parser("cli.py benchmark workers", __doc__, add_arguments)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    p.add_argument("--variant", action="append", metavar="NAME=ARGS",
                   help="engine settings to time (repeatable; default: " + "; ".join(DEFAULT_VARIANTS) + ")")
    p.add_argument("--keep-studies", action="store_true", help="keep each variant's study folder in --out/studies")
    p.add_argument("--timeout", type=float, default=7200, help="seconds one study may take (default: %(default)s)")
    p.add_argument("--out", default="reports/workers", help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    p.add_argument("study_args", nargs="*", help="after --: experiment transfer arguments every variant shares")


def time_study(args: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """One ``experiment transfer`` in a fresh process into ``out``: its wall time and what its results say."""
    command = [sys.executable, str(REPO / "cli.py"), "experiment", "transfer", *args, "--out", str(out)]
    t0 = time.perf_counter()
    try:  # in this working folder: relative paths in the study's arguments mean what they mean here
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"args": args, "wall_seconds": round(time.perf_counter() - t0, 2),
                "error": f"stopped after --timeout {timeout:g} s"}
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"args": args, "wall_seconds": round(wall, 2), "error": tail}
    data = json.loads((out / "results.json").read_text())
    runs = data["runs"]
    return {"args": args, "wall_seconds": round(wall, 2), "engine": data["engine"],
            "train_seconds_total": round(sum(r["train_seconds"] for r in runs), 2),
            "threads": sorted({r["threads"] for r in runs}),
            "test_accuracy": {r["run_id"]: r["test_accuracy"] for r in runs}}


def main(args: argparse.Namespace | list[str]) -> int:
    """Time study 1 under each variant; 0 when every variant finished."""
    from common.machine import machine_info

    argv = list(args) if isinstance(args, list) else list(getattr(args, "argv", None) or [])
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    variants = parse_variants(args.variant or DEFAULT_VARIANTS)
    out = Path(args.out)
    check_out_dir(out, OUTPUTS, args.overwrite)
    results: dict[str, Any] = {}
    with atomic_dir(out, own=OUTPUTS, overwrite=args.overwrite) as tmp, tempfile.TemporaryDirectory() as scratch:
        studies = (tmp if args.keep_studies else Path(scratch)) / "studies"
        for name, extra in variants.items():
            print(f"== {name}: experiment transfer {shlex.join([*args.study_args, *extra])}", flush=True)
            results[name] = time_study([*args.study_args, *extra], studies / name, args.timeout)
            line = results[name].get("error") or f"{results[name]['wall_seconds']:.1f} s wall"
            print(f"   {name}: {line}", flush=True)
        first = next(iter(results))
        ratios = {name: round(r["wall_seconds"] / results[first]["wall_seconds"], 3)
                  for name, r in results.items() if "error" not in r and "error" not in results[first]}
        ray_start = [r["engine"]["start_seconds"] for r in results.values() if r.get("engine", {}).get("engine") == "ray"]
        report = {"machine": machine_info(), "load_average": list(os.getloadavg()),
                  "command": "python cli.py benchmark workers " + shlex.join(argv),
                  "study_args": args.study_args, "variants": results,
                  "wall_time_ratio_to_first": ratios, "ray_start_seconds": ray_start}
        (tmp / "results.json").write_text(json.dumps(report, indent=2))
    for name, ratio in ratios.items():
        if name != first:
            print(f"{name} takes {ratio:.2f}x the wall time of {first} ({1 / ratio:.2f}x speed-up of {first})")
    print(f"results: {out / 'results.json'}")
    return 0 if all("error" not in r for r in results.values()) else 2
