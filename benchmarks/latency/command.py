"""``benchmark latency``'s run: export or load the models, time them, write the report.

Its arguments (and the command's usage) are in :mod:`benchmarks.latency.options`.
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
from common.commands import standalone_parser
from common.errors import OrchardError
from common.machine import machine_info
from lightning_modules.architectures import PAPER_TRAINABLE_PARAMS, check_name, list_models

from . import options
from .end_to_end import end_to_end, photo_files
from .models import LatencyModel, failure, from_paths
from .options import DEFAULT_PHOTOS, GROUPINGS, add_arguments, default_threads
from .report import android_commands, render_report, write_chart
from .timing import summarise, time_onnxruntime, time_pytorch, time_tflite

RESULTS_FILE, REPORT_FILE, CHART_FILE = "results.json", "report.md", "latency.png"
# what a latency report folder holds; anything else there is a user's and refuses the folder
OUTPUTS = (RESULTS_FILE, REPORT_FILE, CHART_FILE, "models")


class NothingTimedError(OrchardError):
    """Every model failed before a single figure was measured."""


def build_parser() -> argparse.ArgumentParser:
    """The command's parser on its own (:func:`main` given an argument list)."""
    return standalone_parser("cli.py benchmark latency", options.__doc__, add_arguments)


def benchmark_models(models: list[LatencyModel], image_nchw: np.ndarray, threads: list[int], runs: int, warmup: int,
                     compare: bool = True, log=print) -> tuple[list[dict], list[dict]]:
    """Time every model: TFLite per precision, then ONNX Runtime and PyTorch eager, per thread count.

    Returns the rows and a failure row (see :func:`failure`) for each figure that could not be measured.
    """
    image_nhwc = np.ascontiguousarray(image_nchw.transpose(0, 2, 3, 1))
    rows, failures = [], []
    for model in models:
        for t in threads:
            jobs = [("tflite", p, lambda p=p: time_tflite(model.tflite[p], image_nhwc, t, runs, warmup)) for p in model.tflite]
            if compare and model.onnx is not None:
                jobs.append(("onnxruntime", "float32", lambda: time_onnxruntime(model.onnx, image_nchw, t, runs, warmup)))
            if compare and model.net is not None:
                jobs.append(("pytorch", "float32", lambda: time_pytorch(model.net, image_nchw, t, runs, warmup)))
            for runtime, precision, job in jobs:
                try:
                    timing = job()
                except Exception as e:  # noqa: BLE001 - one broken file is reported beside the others' figures
                    failures.append(failure(model.name, f"timing {runtime} {precision}, {t} thread(s)", e))
                    log(f"  {model.name:<18} {runtime:<11} {precision:<8} {t} thread(s): failed: {failures[-1]['reason']}")
                    continue
                row = {"model": model.name, "runtime": runtime, "precision": precision,
                       "variant": model.variant(precision) if runtime == "tflite" else precision, "threads": t,
                       "init_ms": timing["init_ms"], "first_ms": timing["first_ms"], "warmup": timing["warmup"],
                       **summarise(timing["runs_ms"]), "runs": runs, "runs_ms": timing["runs_ms"],
                       "params": model.params, "bytes": model.bytes(runtime, precision),
                       "test_accuracy": model.accuracy(runtime, precision)}
                rows.append(row)
                log(f"  {model.name:<18} {runtime:<11} {row['variant']:<8} {t} thread{'s' if t > 1 else ' '}  "
                    f"mean {row['mean_ms']:8.2f} ms  p50 {row['p50_ms']:8.2f}  p90 {row['p90_ms']:8.2f}  "
                    f"p99 {row['p99_ms']:8.2f}")
    return rows, failures


PARITY_KEYS = ("variant", "passed", "max_abs_diff", "mean_abs_diff", "max_abs_diff_probs", "cosine_min", "top1_agreement",
               "agreement_images", "test_accuracy", "test_images")


def describe_model(model: LatencyModel, shown: Callable[[Path], str] = str) -> dict:
    """The per-model part of ``results.json`` (files, sizes, accuracies, export figures, int8 ladder, GPU verdict)."""
    entry = {"name": model.name, "params": model.params, "paper_params": PAPER_TRAINABLE_PARAMS.get(model.name),
             "weights": model.weights, "tflite": {p: shown(f) for p, f in model.tflite.items()},
             "variants": {p: model.variant(p) for p in model.tflite},
             "onnx": shown(model.onnx) if model.onnx else None,
             "bytes": {p: f.stat().st_size for p, f in model.tflite.items()},
             "test_accuracy": {"pytorch": model.accuracy("pytorch", "float32"),
                               "onnxruntime": model.accuracy("onnxruntime", "float32"),
                               **{p: model.accuracy("tflite", p) for p in model.tflite}}}
    if model.onnx:
        entry["bytes"]["onnx"] = model.onnx.stat().st_size
    if model.export:
        e = model.export
        entry["export"] = {"seconds": e.get("seconds", {}), "onnx_max_abs_diff": e["onnx"].get("max_abs_diff"),
                           "judged_on": e.get("judged_on"),
                           "parity": {p: {k: v.get(k) for k in PARITY_KEYS} for p, v in e["tflite"].items()},
                           "gpu_delegate": {p: v["gpu_delegate"] for p, v in e["tflite"].items() if v.get("gpu_delegate")},
                           "quantization": e.get("quantization"),
                           "float32_ops": e["tflite"].get("float32", {}).get("ops")}
    return entry


def describe_failures(failures: list[dict]) -> str:
    """``name (stage): reason; ...`` on one line."""
    return "; ".join(f"{f['model']} ({f['stage']}): {f['reason']}" for f in failures)


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


def _photo_root(model: LatencyModel, dm) -> Path | None:
    """Where a model's end-to-end photos come from: the data root in use, else the one its export recorded."""
    root = getattr(dm, "root", None) if dm is not None else None
    if root is None and model.export:
        root = model.export.get("extra", {}).get("data", {}).get("root") or None
    return Path(root) if root and Path(root).is_dir() else None


def end_to_end_rows(models: list[LatencyModel], dm, threads: int, photos: int, log=print) -> tuple[list[dict], list[dict], str | None]:
    """The ``end_to_end`` entries (one per TFLite file), failure rows, and why none were measured (or ``None``)."""
    from datamodules.batches import BatchTransform

    if photos <= 0:
        return [], [], "--photos 0"
    transform = dm.transform if dm is not None else BatchTransform()
    rows, failures, no_photos = [], [], []
    for model in models:
        root = _photo_root(model, dm)
        files = photo_files(root, photos) if root is not None else []
        if not files:
            no_photos.append(model.name)
            continue
        for precision, path in model.tflite.items():
            try:
                e2e = end_to_end(path, files, threads, transform.mean, transform.std, model.labels)
            except Exception as e:  # noqa: BLE001 - reported beside the others
                failures.append(failure(model.name, f"end_to_end {precision}", e))
                continue
            rows.append({"model": model.name, "precision": precision, "variant": model.variant(precision),
                         "photo_root": str(root), **e2e})
            log(f"  {model.name:<18} end-to-end {model.variant(precision):<8} total {e2e['total_ms']:7.2f} ms (decode "
                f"{e2e['decode_ms']:.2f}, preprocess {e2e['preprocess_ms']:.2f}, invoke {e2e['invoke_ms']:.2f}, "
                f"postprocess {e2e['postprocess_ms']:.2f}; load {e2e['load_ms']:.2f})")
    skipped = f"no photo files for {', '.join(no_photos)} (give --data-root)" if no_photos else None
    return rows, failures, skipped


def run_latency(models: list[LatencyModel], folder: Path, final: Path, dm, args: argparse.Namespace,
                command: str, extra: dict | None = None, failures: list[dict] | None = None, log=print) -> dict:
    """Time ``models`` and write the reports into ``folder`` (paths shown as under ``final``).

    ``failures`` are earlier failure rows (a model that could not be trained, exported or loaded); they
    go into ``results.json`` and the report beside the figures.

    Raises:
        NothingTimedError: not one figure could be measured (nothing is written).
    """
    def shown(path: Path) -> str:
        path = Path(path)
        try:
            return str(final / path.resolve().relative_to(folder.resolve()))
        except ValueError:
            return str(path)

    failures = list(failures or [])
    failures += [{"model": m.name, "stage": f"{p} not exported", "reason": reason, "error": None}
                 for m in models for p, reason in m.missing.items()]
    image, source = timing_input(dm)
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"timing {len(models)} model(s): threads {args.threads}, first call + {args.warmup} warm-up + {args.runs} "
        f"timed calls; load average {load_before}")
    rows, timing_failures = benchmark_models(models, image, args.threads, args.runs, args.warmup, not args.no_compare, log)
    failures += timing_failures
    if not rows:
        raise NothingTimedError(f"no model could be timed: {describe_failures(failures) or 'no models given'}")
    photos = getattr(args, "photos", DEFAULT_PHOTOS)
    e2e, e2e_failures, e2e_skipped = end_to_end_rows(models, dm, args.threads[0], photos, log)
    failures += e2e_failures
    results = {
        "machine": machine_info(),
        "load": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "command": command,
        "settings": {"threads": args.threads, "runs": args.runs, "warmup": args.warmup, "clock": "time.perf_counter_ns",
                     "rounding_ms": 0.01, "batch": 1, "input": source, "end_to_end_photos": photos,
                     "end_to_end_threads": args.threads[0], "end_to_end_skipped": e2e_skipped},
        "data": {"root": str(getattr(dm, "root", "")) if dm is not None else None,
                 "synthetic": bool(getattr(dm, "synthetic", False)) if dm is not None else None},
        "models": [describe_model(m, shown) for m in models],
        "results": rows,
        "end_to_end": e2e,
        "failures": failures,
        **(extra or {}),
    }
    results["android"] = {"commands": android_commands(results)}
    write_reports(folder, results)
    return results


def _datamodule(args: argparse.Namespace, required: bool):
    from export.names import DEFAULT_DATA_ROOT
    from export.source import build_datamodule, say_data

    root = args.data_root or DEFAULT_DATA_ROOT
    if not required and not Path(root).is_dir():
        return None
    dm = build_datamodule(None, root, grouping=GROUPINGS[args.grouping], per_class=args.per_class)
    say_data(dm)
    return dm


def export_fresh(archs: list[str], models_dir: Path, dm, precisions: tuple[str, ...],
                 log=print) -> tuple[list[LatencyModel], list[dict]]:
    """Export each architecture with fresh, seeded weights into ``models_dir/<arch>``; a failure row for each
    that cannot be exported (the others go on)."""
    from export.source import export_from_source, fresh_model

    from .models import from_export_dir

    out, failures = [], []
    for arch in archs:
        t0 = time.perf_counter()
        try:
            export_from_source(fresh_model(arch, dm.num_classes), models_dir / arch, dm, verbose=False)
            out.append(from_export_dir(models_dir / arch, precisions))
        except Exception as e:  # noqa: BLE001 - one architecture's failure is reported beside the others
            failures.append(failure(arch, "export", e))
            log(f"export of {arch} failed: {failures[-1]['reason']}")
            continue
        log(f"exported {arch} (fresh weights) in {time.perf_counter() - t0:.1f} s")
    return out, failures


def say_failures(failures: list[dict], stream=None) -> None:
    """Tell the user which models are missing from the figures, and why."""
    for f in failures:
        print(f"note: {f['model']} ({f['stage']}) not timed: {f['reason']}", file=stream or sys.stdout)


def main(args: argparse.Namespace | list[str]) -> int:
    """Run the benchmark from parsed options (or an argument list, parsed here); 0 when it wrote its report."""
    argv = list(args) if isinstance(args, list) else list(getattr(args, "argv", None) or [])
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    args.arch = args.arch or list_models()
    out = Path(args.out)
    check_out_dir(out, OUTPUTS, args.overwrite)
    args.threads = args.threads or default_threads()
    if min(args.threads) < 1 or args.runs < 1 or args.warmup < 0 or args.photos < 0:
        raise OrchardError("--threads and --runs must be positive, --warmup and --photos not negative")
    for arch in args.arch:
        check_name(arch)
    command = "python cli.py benchmark latency " + shlex.join(argv)
    precisions = tuple(args.precisions)
    models, failures = from_paths(args.models, precisions) if args.models else ([], [])
    dm = _datamodule(args, required=not args.models)
    with atomic_dir(out, own=OUTPUTS, overwrite=args.overwrite) as tmp:
        if not args.models:
            models, failures = export_fresh(args.arch, tmp / "models", dm, precisions)
        results = run_latency(models, tmp, out, dm, args, command, failures=failures)
    say_failures(results["failures"])
    print(f"wrote {out / REPORT_FILE}, {out / RESULTS_FILE}, {out / CHART_FILE} "
          f"({len(results['results'])} figures, {len(results['end_to_end'])} end-to-end)", file=sys.stdout)
    return 0
