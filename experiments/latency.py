"""``python cli.py experiment latency``: study 2 in one command.

Trains the four architectures on Fruits-360 classification (every class its own label, the
paper's task; ``--grouping apple_pear_noise`` for study 1's 3-class task) through orchard's
LightningCLI, exports each best checkpoint (ONNX + float32/float16 TFLite and the int8
deliverable, checked against PyTorch on real images), times each (TFLite, ONNX Runtime, PyTorch
eager; invoke alone and end to end from the photo file) and writes one report. A model that cannot
be trained, exported or timed is a row with its reason; the others go on.

    python cli.py experiment latency --data-root ../shared/data/fruits360-mini --threads 1
    python cli.py experiment latency --quick                           # make demo: synthetic data, 1 epoch
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.latency.options import GROUPINGS, add_grouping_option, add_timing_options, default_threads
from common.atomic import atomic_dir, check_out_dir
from common.commands import add_command, standalone_parser
from common.errors import OrchardError

# quick: make demo on the synthetic sample, a few hundred images judge each export
HELP = "study 2: train, export and time the four architectures"
QUICK = {"epochs": 1, "per_class": 60, "runs": 20, "warmup": 5, "max_images": 400}
FULL = {"epochs": 8, "per_class": 400, "runs": 100, "warmup": 10, "max_images": None}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``experiment latency`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "latency", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """The study's parser on its own (:func:`main` given an argument list)."""
    return standalone_parser("cli.py experiment latency", __doc__, add_arguments)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's options (torch-free: cli.py's tree builds without it)."""
    from export.names import DEFAULT_DATA_ROOT

    parser.add_argument("--arch", nargs="+", default=None, help="architectures (default: all four)")
    parser.add_argument("--quick", action="store_true", help=f"small preset for make demo: {QUICK}")
    parser.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {FULL['epochs']})")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="Fruits-360 folder (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=None, help=f"images per label cap (default {FULL['per_class']})")
    add_grouping_option(parser)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default: %(default)s)")
    parser.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine",
                        help="cosine: the rate decays to 0 over the epochs (default); constant: --lr throughout")
    add_timing_options(parser, runs=None, warmup=None)
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8"], choices=["float32", "float16", "int8"])
    parser.add_argument("--max-images", type=int, default=None,
                        help="judge each export on at most this many real images (default: every image the data "
                             f"has; --quick: {QUICK['max_images']})")
    parser.add_argument("--no-compare", action="store_true", help="time TFLite only")
    parser.add_argument("--out", default="reports/latency", help="report folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    parser.add_argument("--runs-dir", default="runs/latency", help="training runs and checkpoints (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="architectures trained and exported at once (default: "
                        "%(default)s, one after another here); more, or --ray-address, makes each a Ray task. Timing "
                        "always runs alone, after them")
    parser.add_argument("--threads-per-run", type=int, default=None, help="CPUs each Ray task reserves and its torch "
                        "threads (default: 1 on Ray; torch's own here)")
    parser.add_argument("--ray-address", help="join this Ray cluster ('auto', 'ray://host:10001') instead of starting "
                        "Ray here; nodes must see orchard, --data-root, --out and --runs-dir at the same paths")
    parser.add_argument("--gpus-per-run", type=float, default=0, help="GPUs each training task reserves and trains on: up to 1 (default: 0)")


def apply_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Fill unset options from the quick or the full preset."""
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def train(arch: str, args: argparse.Namespace) -> dict:
    """Fit ``arch`` through orchard's LightningCLI (``fit_stage``) in this process; returns timing and the best
    checkpoint (its validation accuracy; the export measures the test accuracy)."""
    from lightning_modules.trainer import StageSettings, fit_stage, gpu_args

    extra = gpu_args(args.gpus_per_run)
    if args.lr_schedule == "cosine":  # LightningCLI's own optimizer + scheduler groups (Adam as the model's)
        extra += ["--optimizer=torch.optim.Adam", f"--optimizer.lr={args.lr}", "--optimizer.fused=true",
                 "--lr_scheduler=torch.optim.lr_scheduler.CosineAnnealingLR", f"--lr_scheduler.T_max={args.epochs}"]
    settings = StageSettings(
        arch=arch, seed=args.seed, epochs=args.epochs, data_class="datamodules.Fruits360DataModule",
        data={"root": str(args.data_root), "grouping": GROUPINGS[args.grouping], "per_class": args.per_class,
              "batch_size": args.batch_size, "seed": args.seed},
        model={"optimizer": "adam", "lr": args.lr}, log_dir=args.runs_dir, log_name=arch,
        progress_bar=sys.stdout.isatty(),  # a pipe or log file gets the summary line below instead
        extra_args=extra)
    result = fit_stage(None, settings, test=False)
    if result.best_checkpoint is None:
        raise OrchardError(f"training {arch} wrote no checkpoint")
    return {"arch": arch, "best_checkpoint": str(result.best_checkpoint), "log_dir": str(result.log_dir),
            "val_acc": result.best_score, "lr_schedule": args.lr_schedule, "train_seconds": result.train_seconds,
            "epochs": result.epochs, "images_per_second": result.images_per_second}


def trained_line(arch: str, training: dict) -> str:
    """The one line that says how an architecture's training went (:func:`train`'s result)."""
    val = f", best val acc {training['val_acc'] * 100:.1f} %" if training["val_acc"] is not None else ""
    return f"== {arch}: trained {training['epochs']} epoch(s) in {training['train_seconds']:.1f} s{val}"


def train_and_export(arch: str, args: argparse.Namespace, models_dir: Path, dm=None, *, progress=None) -> dict:
    """Train ``arch`` and export its best checkpoint (here or as a Ray task; ``dm=None`` builds the data here).

    Returns ``{"arch", "training", "model"}``, or ``{"arch", "failure"}`` naming the stage that failed.
    """
    from benchmarks.latency.models import failure, from_export_dir
    from export.source import build_datamodule, export_from_source, load_checkpoint_model

    if args.threads_per_run:
        import torch

        torch.set_num_threads(args.threads_per_run)
    stage, training = "train", None
    try:
        if progress is not None:
            progress.started(arch, args.epochs, 0, "")
        print(f"== {arch}: train {args.epochs} epoch(s)", flush=True)
        training = train(arch, args)
        print(trained_line(arch, training), flush=True)
        stage = "export"
        print(f"== {arch}: export {training['best_checkpoint']}", flush=True)
        if dm is None:
            dm = build_datamodule(None, args.data_root, grouping=GROUPINGS[args.grouping], per_class=args.per_class,
                                  seed=args.seed)
        source = load_checkpoint_model(training["best_checkpoint"], arch)
        export_from_source(source, models_dir / arch, dm, test=args.max_images, seed=args.seed, verbose=False)
        model = from_export_dir(models_dir / arch, tuple(args.precisions))
    except Exception as e:  # noqa: BLE001 - one architecture's failure is reported beside the others
        row = failure(arch, stage, e)
        print(f"== {arch}: {stage} failed: {row['reason']}", flush=True)
        return {"arch": arch, "training": training, "failure": row}
    return {"arch": arch, "training": training, "model": model}


class _Lines:
    """The study's progress on plain lines: which architecture started where."""

    def started(self, key: str, total: int, done: int, where: str) -> None:
        if where:
            print(f"== {key}: train and export on {where}", flush=True)

    def advanced(self, key: str, done: int, info: str) -> None:
        pass


def prepare_models(args: argparse.Namespace, dm, models_dir: Path) -> tuple[dict, list, list[dict], dict]:
    """Every architecture trained and exported, here in order or as Ray tasks side by side.

    Returns ``(training, models, failures, engine)``; timing is left to the caller, which runs it
    alone so that no other work shares the cores it measures.
    """
    import contextlib

    from experiments.engine.jobs import Task
    from experiments.engine.local import LocalExecutor
    from experiments.engine.scheduler import run_graph

    results: dict[str, dict] = {}
    if args.workers == 1 and args.ray_address is None:
        executor_cm = contextlib.nullcontext(LocalExecutor(_Lines()))
        make = lambda arch, upstream: Task(arch, train_and_export, (arch, args, models_dir, dm))  # noqa: E731
    else:
        from experiments.engine.ray_executor import RayExecutor

        executor_cm = RayExecutor(_Lines(), args.workers, args.threads_per_run or 1, args.gpus_per_run, args.ray_address)
        runs_dir = Path(args.runs_dir)
        make = lambda arch, upstream: Task(arch, train_and_export, (arch, args, models_dir.resolve()),  # noqa: E731
                                           log=runs_dir / arch / "run.log")
    failures: list[dict] = []

    def on_outcome(outcome) -> None:
        if outcome.ok:
            results[outcome.key] = {**outcome.value, "worker": outcome.worker}
        else:  # the worker itself died (train_and_export reports its own failures as values)
            failures.append({"model": outcome.key, "stage": "train or export", "reason": outcome.error,
                             "error": "WorkerError"})
        if engine["engine"] == "ray":  # the run's own lines went to its run.log
            value = outcome.value or {}
            if "failure" in value or not outcome.ok:
                reason = value["failure"]["reason"] if "failure" in value else outcome.error
                print(f"== {outcome.key}: failed on Ray: {reason}", flush=True)
            else:
                print(f"{trained_line(outcome.key, value['training'])}; exported on Ray", flush=True)

    with executor_cm as executor:
        engine = executor.describe()
        if engine["engine"] == "ray":
            print(f"== training and exporting on Ray ({engine['address']}, {executor.slots} at once, "
                  f"started in {engine['start_seconds']:.1f} s)", flush=True)
        run_graph(list(args.arch), {}, make, executor, on_outcome)
    training = {a: {**r["training"], "worker": r["worker"]} for a, r in results.items() if r.get("training")}
    models = [results[a]["model"] for a in args.arch if "model" in results.get(a, {})]
    failures += [results[a]["failure"] for a in args.arch if "failure" in results.get(a, {})]
    return training, models, failures, engine


def main(args: argparse.Namespace | list[str]) -> int:
    """Run study 2 from parsed options (or an argument list, parsed here); 0 when its report is written."""
    from benchmarks.latency.command import OUTPUTS, run_latency, say_failures
    from export.source import build_datamodule, say_data
    from lightning_modules.architectures import check_name, list_models
    from lightning_modules.trainer import gpu_args

    argv = list(args) if isinstance(args, list) else list(getattr(args, "argv", None) or [])
    args = apply_preset(build_parser().parse_args(args) if isinstance(args, list) else args)
    args.arch = list(dict.fromkeys(args.arch or list_models()))  # each architecture once, in the order given
    args.threads = args.threads or default_threads()
    for arch in args.arch:
        check_name(arch)
    out = Path(args.out)
    check_out_dir(out, OUTPUTS, args.overwrite)
    if args.workers < 1 or (args.threads_per_run is not None and args.threads_per_run < 1) or args.gpus_per_run < 0:
        raise OrchardError("--workers and --threads-per-run must be at least 1, --gpus-per-run not negative")
    gpu_args(args.gpus_per_run)  # more than one GPU per run is refused before anything starts
    if (min(args.threads) < 1 or args.runs < 1 or args.epochs < 1 or args.warmup < 0 or args.photos < 0
            or (args.max_images is not None and args.max_images < 1)):
        raise OrchardError("--threads, --runs, --epochs and --max-images must be positive, --warmup and --photos "
                           "not negative")
    dm = build_datamodule(None, args.data_root, grouping=GROUPINGS[args.grouping], per_class=args.per_class,
                          seed=args.seed)
    say_data(dm)
    command = "python cli.py experiment latency " + shlex.join(argv)
    t_start = time.perf_counter()
    with atomic_dir(out, own=OUTPUTS, overwrite=args.overwrite) as tmp:
        training, models, failures, engine = prepare_models(args, dm, tmp / "models")
        print("== timing", flush=True)
        extra = {"training": training, "engine": engine,
                 "experiment": {"epochs": args.epochs, "per_class": args.per_class, "grouping": args.grouping,
                                "classes": dm.num_classes, "batch_size": args.batch_size, "lr": args.lr,
                                "lr_schedule": args.lr_schedule,
                                "quick": args.quick}}
        results = run_latency(models, tmp, out, dm, args, command, extra, failures)
    say_failures(results["failures"])
    print(f"study 2 done in {time.perf_counter() - t_start:.0f} s: {out / 'report.md'} "
          f"({len(results['results'])} latency figures, {len(models)} of {len(args.arch)} models)")
    return 0
