"""``python cli.py benchmark latency``: TFLite ``invoke()`` latency (the paper's measurement), with
ONNX Runtime and PyTorch eager on the same input for comparison.

    python cli.py benchmark latency                               # export the four architectures now, time them
    python cli.py benchmark latency runs/export/alexnet/model_int8.tflite --threads 1
    python cli.py benchmark latency runs/export/alexnet           # an export folder: all its models

Writes ``results.json``, ``report.md``, ``latency.png`` into ``--out`` (default ``reports/latency``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from common.atomic import atomic_dir, check_out_dir, write_json_atomic, write_text_atomic
from common.errors import OrchardError
from common.machine import machine_info
from lightning_modules.architectures import PAPER_TRAINABLE_PARAMS, check_name, list_models

from .latency_models import LatencyModel, from_paths
from .latency_report import android_commands, render_report, write_chart
from .latency_timing import summarise, time_onnxruntime, time_pytorch, time_tflite

RESULTS_FILE, REPORT_FILE, CHART_FILE = "results.json", "report.md", "latency.png"
# what a latency report folder holds; anything else there is a user's and refuses the folder
OUTPUTS = (RESULTS_FILE, REPORT_FILE, CHART_FILE, "models")
DEFAULT_OUT = "reports/latency"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py benchmark latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=".tflite files or export folders (default: export --arch now)")
    parser.add_argument("--arch", nargs="+", default=list_models(), help="architectures to export with fresh weights "
                        "when no models are given (default: all four)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 4], help="thread counts (default: 1 4)")
    parser.add_argument("--runs", type=int, default=100, help="timed calls per figure (default: 100, as the paper)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first (default: 10)")
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8"], choices=["float32", "float16", "int8"],
                        help="TFLite precisions to time (default: float32 int8)")
    parser.add_argument("--no-compare", action="store_true", help="time TFLite only (no ONNX Runtime / PyTorch)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="report folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    parser.add_argument("--data-root", default=None, help="Fruits-360 folder for real images (default: the synthetic sample)")
    parser.add_argument("--per-class", type=int, default=400)
    return parser


def benchmark_models(models: list[LatencyModel], image_nchw: np.ndarray, threads: list[int], runs: int, warmup: int,
                     compare: bool = True, log=print) -> list[dict]:
    """Time every model: TFLite per precision, then ONNX Runtime and PyTorch eager, per thread count."""
    image_nhwc = np.ascontiguousarray(image_nchw.transpose(0, 2, 3, 1))
    out = []
    for model in models:
        for t in threads:
            jobs = [("tflite", p, lambda p=p: time_tflite(model.tflite[p], image_nhwc, t, runs, warmup)) for p in model.tflite]
            if compare and model.onnx is not None:
                jobs.append(("onnxruntime", "float32", lambda: time_onnxruntime(model.onnx, image_nchw, t, runs, warmup)))
            if compare and model.net is not None:
                jobs.append(("pytorch", "float32", lambda: time_pytorch(model.net, image_nchw, t, runs, warmup)))
            for runtime, precision, job in jobs:
                runs_ms = job()
                row = {"model": model.name, "runtime": runtime, "precision": precision, "threads": t,
                       "runs_ms": runs_ms, **summarise(runs_ms), "params": model.params,
                       "bytes": model.bytes(runtime, precision), "test_accuracy": model.accuracy(runtime, precision),
                       "runs": runs, "warmup": warmup}
                out.append(row)
                log(f"  {model.name:<18} {runtime:<11} {precision:<7} {t} thread{'s' if t > 1 else ' '}  "
                    f"mean {row['mean_ms']:8.2f} ms  median {row['median_ms']:8.2f}  p90 {row['p90_ms']:8.2f}")
    return out


def describe_model(model: LatencyModel, shown: Callable[[Path], str] = str) -> dict:
    """The per-model part of ``results.json`` (files, sizes, accuracies, export figures)."""
    entry = {"name": model.name, "params": model.params, "paper_params": PAPER_TRAINABLE_PARAMS.get(model.name),
             "weights": model.weights, "tflite": {p: shown(f) for p, f in model.tflite.items()},
             "onnx": shown(model.onnx) if model.onnx else None,
             "bytes": {p: f.stat().st_size for p, f in model.tflite.items()},
             "test_accuracy": {"pytorch": model.accuracy("pytorch", "float32"),
                               "onnxruntime": model.accuracy("onnxruntime", "float32"),
                               **{p: model.accuracy("tflite", p) for p in model.tflite}}}
    if model.onnx:
        entry["bytes"]["onnx"] = model.onnx.stat().st_size
    if model.export:
        e = model.export
        entry["export"] = {"seconds": e["seconds"], "onnx_max_abs_diff": e["onnx"]["max_abs_diff"],
                           "parity": {p: {k: v.get(k) for k in ("max_abs_diff", "max_abs_diff_probs", "top1_agreement",
                                                                "test_accuracy")}
                                      for p, v in e["tflite"].items()},
                           "float32_ops": e["tflite"].get("float32", {}).get("ops")}
    return entry


def write_reports(folder: Path, results: dict) -> None:
    """``results.json``, ``latency.png`` and ``report.md`` into ``folder``."""
    write_json_atomic(folder / RESULTS_FILE, results)
    write_chart(results, folder / CHART_FILE)
    write_text_atomic(folder / REPORT_FILE, render_report(results, CHART_FILE))


def timing_input(dm) -> tuple[np.ndarray, str]:
    """One normalised NCHW test image (real when a datamodule is at hand, else seeded noise)."""
    if dm is not None:
        return dm.sample_images(1, "test").numpy(), f"test image from {getattr(dm, 'root', '?')}"
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (1, 3, 100, 100)).astype(np.float32), "seeded uniform noise in [-1, 1]"


def run_latency(models: list[LatencyModel], folder: Path, final: Path, dm, args: argparse.Namespace,
                command: str, extra: dict | None = None, log=print) -> dict:
    """Time ``models`` and write the reports into ``folder`` (paths shown as under ``final``)."""
    def shown(path: Path) -> str:
        path = Path(path)
        try:
            return str(final / path.resolve().relative_to(folder.resolve()))
        except ValueError:
            return str(path)

    image, source = timing_input(dm)
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"timing {len(models)} model(s): threads {args.threads}, {args.warmup} warm-up + {args.runs} timed calls; "
        f"load average {load_before}")
    rows = benchmark_models(models, image, args.threads, args.runs, args.warmup, not args.no_compare, log)
    results = {
        "machine": machine_info(),
        "load": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "command": command,
        "settings": {"threads": args.threads, "runs": args.runs, "warmup": args.warmup, "clock": "time.perf_counter_ns",
                     "rounding_ms": 0.01, "batch": 1, "input": source},
        "data": {"root": str(getattr(dm, "root", "")) if dm is not None else None,
                 "synthetic": bool(getattr(dm, "synthetic", False)) if dm is not None else None},
        "models": [describe_model(m, shown) for m in models],
        "results": rows,
        **(extra or {}),
    }
    results["android"] = {"commands": android_commands(results)}
    write_reports(folder, results)
    return results


def _datamodule(args: argparse.Namespace, required: bool):
    from export.data import DEFAULT_DATA_ROOT
    from export.pipeline import build_datamodule, say_data

    root = args.data_root or DEFAULT_DATA_ROOT
    if not required and not Path(root).is_dir():
        return None
    dm = build_datamodule(None, root, per_class=args.per_class)
    say_data(dm)
    return dm


def export_fresh(archs: list[str], models_dir: Path, dm, log=print) -> list[LatencyModel]:
    """Export each architecture with fresh, seeded weights into ``models_dir/<arch>``."""
    from export.model_source import fresh_model
    from export.pipeline import export_from_source

    from .latency_models import from_export_dir

    out = []
    for arch in archs:
        t0 = time.perf_counter()
        export_from_source(fresh_model(arch, dm.num_classes), models_dir / arch, dm, verbose=False)
        log(f"exported {arch} (fresh weights) in {time.perf_counter() - t0:.1f} s")
        out.append(from_export_dir(models_dir / arch))
    return out


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    check_out_dir(out, OUTPUTS, args.overwrite)
    if min(args.threads) < 1 or args.runs < 1 or args.warmup < 0:
        raise OrchardError("--threads and --runs must be positive, --warmup not negative")
    for arch in args.arch:
        check_name(arch)
    command = "python cli.py benchmark latency " + shlex.join(argv)
    precisions = tuple(args.precisions)
    models = from_paths(args.models, precisions) if args.models else []
    dm = _datamodule(args, required=not args.models)
    with atomic_dir(out, own=OUTPUTS, overwrite=args.overwrite) as tmp:
        if not args.models:
            models = export_fresh(args.arch, tmp / "models", dm)
            for m in models:
                m.tflite = {p: f for p, f in m.tflite.items() if p in precisions}
        results = run_latency(models, tmp, out, dm, args, command)
    print(f"wrote {out / REPORT_FILE}, {out / RESULTS_FILE}, {out / CHART_FILE} "
          f"({len(results['results'])} figures)", file=sys.stdout)
    return 0
