"""``python cli.py benchmark training``: the same fit under several settings, paired and interleaved.

    python cli.py benchmark training --config configs/stage3_fruits3.yaml \\
        --variant cached= --variant uncached=--model.feature_cache=false --repeats 5 \\
        --out reports/training/stage3 -- --model.init_from RUN2/last.ckpt \\
        --data.init_args.root ../shared/data/fruits360-mini --data.init_args.per_class 60

Every fit is ``python cli.py fit`` (through ``fit_stage``: orchard's LightningCLI, every default
on) in a fresh process with ``--threads`` torch threads, then tested. The variants of a repeat run back to back, their
order rotating per repeat, so a busy spell on a shared machine hits them alike; ratios are taken
within a repeat. Writes ``results.json`` into ``--out``: per run the ``TrainingTimer`` figures
(cache build included), validation accuracy per epoch, time to ``--target-accuracy``, test
accuracy and the load average around it; per variant median / min / max; per pair of variants
the paired ratios.
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
from typing import Any, Optional

from common.atomic import atomic_dir, check_out_dir, write_json_atomic
from common.commands import add_command, standalone_parser
from common.errors import OrchardError

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = ("results.json",)


HELP = "one fit under several settings (e.g. feature cache, precision), paired"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``benchmark training`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "training", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's parser on its own (:func:`main` given an argument list)."""
    return standalone_parser("cli.py benchmark training", __doc__, add_arguments)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    p.add_argument("--config", required=True, help="LightningCLI config of the fit (e.g. configs/stage3_fruits3.yaml)")
    p.add_argument("--variant", action="append", required=True, metavar="NAME=ARGS",
                   help="a setting to compare: its name and the extra fit arguments (space-separated; may be empty)")
    p.add_argument("--repeats", type=int, default=3, help="fits per variant (default: %(default)s)")
    p.add_argument("--seeds", action="store_true",
                   help="repeat r runs with --seed_everything r (accuracy over seeds); default: the config's seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every fit (default: %(default)s)")
    p.add_argument("--target-accuracy", type=float, default=0.95, help="for time to target (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one fit may take")
    p.add_argument("--out", default="reports/training")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    p.add_argument("fit_args", nargs="*", help="after --: fit arguments every variant shares")


def parse_variants(specs: list[str]) -> dict[str, list[str]]:
    """``NAME=ARGS`` -> ``{NAME: [args]}``; names must be unique and non-empty."""
    variants: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, args = spec.partition("=")
        if not sep or not name or name in variants:
            raise OrchardError(f"--variant {spec!r}: expected a new NAME=ARGS (ARGS may be empty)")
        variants[name] = shlex.split(args)
    return variants


def one_fit(config: str, args: list[str], log_dir: str, threads: int) -> dict[str, Any]:
    """Fit and test in this process through ``fit_stage`` (``config`` + the user's ``args``); the record of the run."""
    import pytorch_lightning as pl
    import torch

    from lightning_modules.trainer import StageSettings, fit_stage

    torch.set_num_threads(threads)

    class ValHistory(pl.Callback):
        def __init__(self) -> None:
            self.val_accuracy: list[float] = []

        def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if not trainer.sanity_checking and "val_acc" in trainer.callback_metrics:
                self.val_accuracy.append(float(trainer.callback_metrics["val_acc"]))

    history = ValHistory()
    load = os.getloadavg()[0]
    # every default of a user's `python cli.py fit` on (progress bar and the config's callbacks included)
    settings = StageSettings(log_dir=log_dir, progress_bar=True, extra_args=list(args))
    fit = fit_stage(config, settings, callbacks=[history], test=True)
    return {"train_seconds": fit.train_seconds, "epoch_seconds": fit.epoch_seconds,
            "setup_seconds": fit.setup_seconds, "images_per_second": fit.images_per_second,
            "val_accuracy": history.val_accuracy, "test_accuracy": fit.metrics["test_acc"],
            "precision": str(fit.trainer.precision), "torch_threads": torch.get_num_threads(),
            "feature_cache": fit.feature_cache,
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)]}


def run_fit(config: str, args: list[str], threads: int, work: Path, timeout: float) -> dict[str, Any]:
    """One fit in a fresh process (``python -m benchmarks.training.command --one``)."""
    from common.threads import apply_openmp_defaults

    spec = work / f"fit{len(list(work.glob('fit*.json')))}.json"
    result = spec.with_suffix(".result.json")
    spec.write_text(json.dumps({"config": config, "args": args, "log_dir": str(work / "runs"), "threads": threads,
                                "result": str(result)}))
    env = dict(os.environ)
    apply_openmp_defaults(env)
    env.update({"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)})
    proc = subprocess.run([sys.executable, "-m", "benchmarks.training.command", "--one", str(spec)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not result.is_file():
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise OrchardError(f"fit {' '.join(args)} failed (exit {proc.returncode}): {tail[:300]}")
    return json.loads(result.read_text())


def summarise(runs: dict[str, list[dict[str, Any]]], target: float) -> dict[str, Any]:
    """Median / min / max per variant, and paired ratios (first variant over each other) per repeat."""
    from statistics import median

    from experiments.transfer.report import time_to_target

    def spread(values: list[Optional[float]]) -> dict[str, Any]:
        got = [v for v in values if v is not None]
        return {"median": median(got) if got else None, "min": min(got, default=None), "max": max(got, default=None),
                "values": values}

    out: dict[str, Any] = {"variants": {}, "paired_ratios": {}}
    for name, records in runs.items():
        for r in records:
            hit = time_to_target(r, target)
            r["time_to_target_seconds"] = hit[0] if hit else None
        out["variants"][name] = {key: spread([r[key] for r in records]) for key in
                                 ("train_seconds", "time_to_target_seconds", "test_accuracy", "images_per_second")}
    names = list(runs)
    for other in names[1:]:
        for key in ("train_seconds", "time_to_target_seconds"):
            ratios = [b[key] / a[key] if a[key] and b[key] else None for a, b in zip(runs[names[0]], runs[other])]
            out["paired_ratios"][f"{other}_over_{names[0]}_{key}"] = spread(ratios)
    return out


def run_one(spec_path: str) -> int:
    """One fit of :func:`run_fit` (``python -m benchmarks.training.command --one SPEC.json``); its record to the spec's result."""
    from common.allocator import tune_malloc

    tune_malloc()  # as `python cli.py` does for a user's runs
    spec = json.loads(Path(spec_path).read_text())
    write_json_atomic(spec["result"], one_fit(spec["config"], spec["args"], spec["log_dir"], spec["threads"]))
    return 0


def main(args: argparse.Namespace | list[str]) -> int:
    """Run the benchmark from parsed options (or an argument list, parsed here); 0 when it wrote its results."""
    argv = list(args) if isinstance(args, list) else list(getattr(args, "argv", None) or [])
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    variants = parse_variants(args.variant)
    if args.repeats < 1 or args.threads < 1:
        raise OrchardError("--repeats and --threads must be at least 1")
    if not Path(args.config).is_file():
        raise OrchardError(f"--config {args.config} does not exist")
    check_out_dir(args.out, OUTPUTS, args.overwrite)
    names = list(variants)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orchard-training-") as tmp:
        for r in range(args.repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                seed = ["--seed_everything", str(r)] if args.seeds else []
                rec = run_fit(args.config, [*args.fit_args, *seed, *variants[name]], args.threads, Path(tmp),
                              args.timeout)
                runs[name].append({"repeat": r, **rec})
                print(f"repeat {r + 1} {name:12s}: train {rec['train_seconds']:.2f} s, test acc "
                      f"{100 * rec['test_accuracy']:.1f} %, load {rec['load_average_1min'][0]}", flush=True)
    from common.machine import machine_info

    results = {"command": shlex.join(["python", "cli.py", "benchmark", "training", *argv]), "machine": machine_info(),
               "variants": variants, "threads": args.threads, "target_accuracy": args.target_accuracy,
               "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
               "summary": summarise(runs, args.target_accuracy), "runs": runs, "seconds": time.perf_counter() - t0}
    with atomic_dir(Path(args.out), own=OUTPUTS, overwrite=args.overwrite) as out:
        write_json_atomic(out / "results.json", results)
    print(json.dumps(results["summary"]["paired_ratios"] | {n: v["train_seconds"]["median"]
                                                           for n, v in results["summary"]["variants"].items()}))
    print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_one(sys.argv[2]) if sys.argv[1:2] == ["--one"] else main(sys.argv[1:]))
