"""``python cli.py experiment transfer``: study 1 end to end, resumable, with a report beside the paper's.

Runs N scratch runs (seeds 0..N-1), stage 1 once (CIFAR-100, or CIFAR-10 standing in), stage 2
once (Fruits-360 all classes, conv1-conv3 frozen, from stage 1) and N stage-3 runs (apple / pear /
noise, conv1-conv4 frozen, from stage 2), each through the real LightningCLI with the stage's
config from ``configs/``. Writes ``results.json``, ``report.md`` (the paper's Tables 2-5, ours
beside the paper's) and ``transfer.png`` into ``--out``. A rerun skips finished runs and resumes
an interrupted one from its last checkpoint.

``--arch all`` (or a comma-separated list) runs the protocol once per architecture, each in its
own sub-folder ``--out/<arch>/`` (a whole study folder as above), and writes one comparison
(``report.md``, ``results.json``, ``comparison.png``) into ``--out``; an architecture that fails
is reported beside the others. One process owns ``--out`` at a time (``.orchard-study.lock``).

Examples::

    python cli.py experiment transfer --quick                   # small, synthetic data (make demo)
    python cli.py experiment transfer --fruits-root ../shared/data/fruits360-mini --per-class 60 \\
        --cifar-root ../shared/data/cifar10-mini --cifar-dataset cifar10
    python cli.py experiment transfer --arch all --quick        # every architecture, one comparison
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

from common.atomic import write_json_atomic, write_text_atomic
from common.commands import add_command, standalone_parser
from common.errors import OrchardError, OutputFolderError, unwritable

from .plan import STAGES, RunSpec, StudyOptions, plan, planned_epochs

# --quick: the whole study on the synthetic samples in a few minutes on 2 CPU cores (make demo).
QUICK = {
    "n": 3, "fruits_root": "data/fruits360-synthetic", "cifar_root": "data/cifar-synthetic", "cifar_dataset": "cifar100",
    "epochs": {"scratch": 10, "stage1": 3, "stage2": 3, "stage3": 8},
    "per_class": 100, "stage2_per_class": 60, "cifar_per_class": 20,
}


HELP = "study 1: scratch vs staged transfer learning, report beside the paper's tables"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``experiment transfer`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "transfer", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """The study's parser on its own (``main`` given an argument list)."""
    return standalone_parser("cli.py experiment transfer", __doc__, add_arguments)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's options."""
    add = parser.add_argument
    add("--quick", action="store_true", help="small preset on the synthetic samples (written if missing); "
        "flags given beside it win: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    add("--n", type=int, help="scratch runs and stage-3 runs (seeds 0..N-1; default 10)")
    add("--arch", default="alexnet", help="architecture for every stage, or 'all' / a comma-separated list: the "
        "protocol once per architecture into --out/<arch>/, with one comparison report (default: %(default)s)")
    add("--fruits-root", help="Fruits-360 folder for scratch, stage 2 and stage 3 (default: data/fruits360-synthetic)")
    add("--cifar-root", help="folder holding cifar-100-python/ or cifar-10-batches-py/ (default: data/cifar-synthetic)")
    add("--cifar-dataset", choices=["cifar100", "cifar10"], help="stage 1's dataset (default: cifar100; "
        "cifar10 stands in where CIFAR-100 is absent)")
    for stage in STAGES:
        add(f"--epochs-{stage}", type=int, help=f"epochs of {stage} (default: its config's max_epochs)")
    add("--per-class", type=int, help="images per label for apple/pear/noise (default: config, 400; 60 on fruits360-mini)")
    add("--stage2-per-class", type=int, help="images per class for stage 2 (default: config, 400)")
    add("--cifar-per-class", type=int, help="images per class for stage 1 (default: all)")
    add("--batch-size", type=int, help="batch size of every stage (default: the configs')")
    add("--target-accuracy", type=float, default=0.95, help="for time-to-target-accuracy (default: %(default)s)")
    add("--stages", default=",".join(STAGES), help="comma-separated stages to run now (default: all); "
        "the others are reported from earlier runs in --out")
    add("--fit-arg", action="append", default=[], metavar="ARG",
        help="extra LightningCLI argument for every run, e.g. --fit-arg=--trainer.accelerator=gpu (repeatable)")
    add("--threads", type=int, help="torch threads for every run (default: torch's, one per core; 1 per run on Ray; "
        "on a machine shared with other jobs, 1 avoids oversubscribed cores that slow training several-fold)")
    add("--out", default="reports/transfer", help="output folder (default: %(default)s)")
    add("--workers", type=int, default=1, help="runs at once (default: %(default)s: one after another in this "
        "process); more, or --ray-address, runs them as Ray tasks, each reserving --threads CPUs")
    add("--ray-address", help="join this Ray cluster ('auto', or 'ray://host:10001') instead of starting Ray here; "
        "every node must see orchard, the data roots and --out at the same paths")
    add("--gpus-per-run", type=float, default=0, help="GPUs each run reserves and trains on: up to 1 (a fraction "
        "lets runs share a GPU; default: %(default)s, CPU)")


def options_from_args(args: argparse.Namespace) -> StudyOptions:
    """Preset (``--quick``) < explicit flags; unset values fall back to the configs."""
    preset: dict[str, Any] = dict(QUICK) if args.quick else {}
    epochs = dict(preset.get("epochs", dict.fromkeys(STAGES)))
    for stage in STAGES:
        if getattr(args, f"epochs_{stage}") is not None:
            epochs[stage] = getattr(args, f"epochs_{stage}")

    def pick(name: str, default: Any = None) -> Any:
        value = getattr(args, name)
        return value if value is not None else preset.get(name, default)

    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise OrchardError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    options = StudyOptions(
        n=pick("n", 10), arch=args.arch, fruits_root=pick("fruits_root", "data/fruits360-synthetic"),
        cifar_root=pick("cifar_root", "data/cifar-synthetic"), cifar_dataset=pick("cifar_dataset", "cifar100"),
        epochs=epochs, per_class=pick("per_class"), stage2_per_class=pick("stage2_per_class"),
        cifar_per_class=pick("cifar_per_class"), batch_size=args.batch_size, target_accuracy=args.target_accuracy,
        out=Path(args.out), stages=stages, fit_args=list(args.fit_arg), threads=args.threads, workers=args.workers,
        ray_address=args.ray_address, gpus_per_run=args.gpus_per_run)
    if options.n < 1:
        raise OrchardError(f"--n must be at least 1, got {options.n}")
    if not 0.0 < options.target_accuracy <= 1.0:
        raise OrchardError(f"--target-accuracy is a fraction in (0, 1], got {options.target_accuracy}")
    if options.threads is not None and options.threads < 1:
        raise OrchardError(f"--threads must be at least 1, got {options.threads}")
    if options.workers < 1:
        raise OrchardError(f"--workers must be at least 1, got {options.workers}")
    if options.gpus_per_run < 0:
        raise OrchardError(f"--gpus-per-run must not be negative, got {options.gpus_per_run}")
    from lightning_modules.trainer import gpu_args

    gpu_args(options.gpus_per_run)  # more than one GPU per run is refused here, before anything starts
    if options.out.exists() and not options.out.is_dir():
        raise OrchardError(f"--out {options.out} is a file, not a folder")
    return options


def architectures(value: str) -> list[str]:
    """``--arch``: one name, ``all``, or a comma-separated list (unknown names refused in one line)."""
    from lightning_modules.architectures import check_name, list_models

    if value.strip() == "all":
        return list_models()
    names = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not names:
        raise OrchardError("--arch names no architecture")
    return [check_name(n) for n in names]


def check_data_roots(options: StudyOptions) -> None:
    """Refuse a missing data folder before anything is written (a failed start must leave nothing behind)."""
    needs = {"--fruits-root": (options.fruits_root, {"scratch", "stage2", "stage3"}),
             "--cifar-root": (options.cifar_root, {"stage1"})}
    for flag, (root, stages) in needs.items():
        if stages & set(options.stages) and not Path(root).is_dir():
            raise OrchardError(f"{flag} {root}: no such folder")


def ensure_synthetic_samples(options: StudyOptions) -> None:
    """``--quick`` on a fresh clone: write the synthetic samples the preset points at if they are missing."""
    from datamodules.data_cli import main as data_main

    if not Path(options.fruits_root).exists():
        data_main(["synth", "fruits360", "--root", options.fruits_root])
    if not Path(options.cifar_root).exists():
        data_main(["synth", options.cifar_dataset, "--root", options.cifar_root])


def upstream_checkpoint(spec: RunSpec, records: dict[RunSpec, dict], options: StudyOptions) -> Optional[Path]:
    if spec.upstream is None:
        return None
    record = records.get(spec.upstream)
    if record is None:
        raise OrchardError(f"{spec.run_id} starts from {spec.upstream.run_id}, which has no finished run in "
                           f"{options.runs_dir}; add {spec.upstream.stage} to --stages")
    from .runner import in_out

    return in_out(options, record["checkpoint"])


def write_outputs(options: StudyOptions, records: list[dict], command: str, engine: dict, failures: dict[str, str],
                  with_plot: bool) -> None:
    """``results.json`` and ``report.md`` (atomically), and the plot.

    ``engine`` says where the runs executed (local or Ray, workers); ``failures`` maps the runs that
    failed to their one-line reason.
    """
    from common.machine import machine_info

    from .report import PAPER_SPEEDUP, render_report, speedups, summarize

    machine = machine_info()
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()}
    stages = summarize(records, options.target_accuracy)
    summary = {s: v.as_dict() for s, v in stages.items()}
    # scratch / stage 3: total train time, time to the target accuracy (equal quality), and the paper's 12.3x
    ratios = {**speedups(stages, options.n), "paper_train_time": PAPER_SPEEDUP}
    write_json_atomic(options.out / "results.json", {"machine": machine, "command": command, "engine": engine,
                                                     "options": settings, "summary": summary, "speedups": ratios,
                                                     "runs": records, "failures": failures})
    write_text_atomic(options.out / "report.md", render_report(records, machine, settings, command, engine, failures))
    if with_plot and records:
        from .plot import plot_study

        plot_study(records, options.out / "transfer.png", options.target_accuracy, options.n)


class RunsFailedError(OrchardError):
    """Some runs of the study failed (the others finished and are reported)."""


def on_ray(options: StudyOptions) -> bool:
    """Whether the runs go to Ray (``--workers`` above 1 or a ``--ray-address``) rather than run here in order."""
    return options.workers > 1 or options.ray_address is not None


def threads_per_run(options: StudyOptions) -> int:
    """The torch threads each run trains with: ``--threads``; else one per Ray run, or torch's default here."""
    if options.threads:
        return options.threads
    if on_ray(options):
        return 1
    import torch

    return torch.get_num_threads()


def make_executor(options: StudyOptions, display: Any):
    """The engine the runs execute on: here, in order (``--workers 1``, no address), or Ray."""
    from experiments.engine.local import LocalExecutor

    if not on_ray(options):
        return contextlib.nullcontext(LocalExecutor(display))
    from experiments.engine.ray_executor import RayExecutor

    return RayExecutor(display, options.workers, threads_per_run(options), options.gpus_per_run, options.ray_address)


def check_before_running(options: StudyOptions, runs: list[RunSpec]) -> None:
    """Refuse, before any run starts, what would stop the study halfway: a stage whose upstream has neither
    a finished run nor a place in ``--stages``, or a finished run made with other settings.

    Runs whose upstream trains now are checked when their turn comes (their settings name its checkpoint).

    Raises:
        OrchardError: one line naming the run and what to do.
    """
    from .runner import DamagedRecordError, load_record

    found: dict[RunSpec, dict] = {}
    for spec in runs:
        if spec.upstream is not None and spec.upstream not in found:
            if spec.stage in options.stages and spec.upstream.stage not in options.stages:
                upstream_checkpoint(spec, found, options)  # raises: nothing to start from
            continue
        try:
            record = load_record(options, spec, upstream_checkpoint(spec, found, options))
        except DamagedRecordError:
            continue  # redone from its checkpoint when its turn comes
        if record is not None:
            found[spec] = record


def run_study(options: StudyOptions, command: str) -> list[dict]:
    """Run (or resume) every planned run and write the outputs; returns the records in plan order.

    Runs start once their upstream run has finished (scratch seeds need nothing; stage 1 ->
    stage 2 -> the stage-3 seeds), on the engine :func:`make_executor` picks. A run that fails is
    reported beside the others' results; its dependents are not attempted.

    Raises:
        RunsFailedError: after the outputs are written, when any run failed.
    """
    from experiments.engine.jobs import Outcome, Task
    from experiments.engine.scheduler import run_graph

    from .progress import StudyDisplay
    from .runner import RECORD, DamagedRecordError, execute, load_record, run_dir

    runs = plan(options)
    by_id = {spec.run_id: spec for spec in runs}
    planned = [(spec, planned_epochs(spec, options)) for spec in runs]
    records: dict[RunSpec, dict] = {}
    failures: dict[str, str] = {}
    not_run: set[str] = set()  # of the failures: runs not attempted because their upstream failed
    other_threads: list[str] = []
    check_before_running(options, runs)
    options.out.mkdir(parents=True, exist_ok=True)
    threads = threads_per_run(options)
    # a Ray worker may run in another working folder (or on another node): it gets full paths
    task_options = options if not on_ray(options) else dataclasses.replace(
        options, out=options.out.resolve(), fruits_root=str(Path(options.fruits_root).resolve()),
        cifar_root=str(Path(options.cifar_root).resolve()))

    def make_task(key: str, upstream: dict[str, Any]) -> Task | Outcome:
        spec = by_id[key]
        if spec.stage not in options.stages and not run_dir(options, spec).joinpath(RECORD).is_file():
            return Outcome(key, skipped=True)  # not asked for now: no record, nothing to report
        try:
            init_from = upstream_checkpoint(spec, records, task_options)  # a full path where the run goes to Ray
            record = load_record(options, spec, init_from)
        except DamagedRecordError as e:
            display.print(f"{spec.run_id:<14} {e}: redone from its last checkpoint")
            record = None
        except OutputFolderError:
            raise
        except OrchardError as e:  # a case check_before_running could not see: this run fails, the others go on
            return Outcome(key, error=str(e))
        if record is not None:
            if record.get("threads") != threads:
                other_threads.append(f"{spec.run_id} ({record.get('threads', '?')})")
            return Outcome(key, value=record, skipped=True)
        if spec.stage not in options.stages:
            return Outcome(key, skipped=True)
        return Task(key, execute, (task_options, spec, init_from), log=run_dir(task_options, spec) / "run.log")

    def on_outcome(outcome: Outcome) -> None:
        spec = by_id[outcome.key]
        if not outcome.ok:
            failures[outcome.key] = outcome.error
            if outcome.not_run:
                not_run.add(outcome.key)
            display.finish_run(spec, None, error=outcome.error)
        elif outcome.value is not None:
            records[spec] = {**outcome.value, "worker": {**outcome.value.get("worker", {}), **outcome.worker}} \
                if not outcome.skipped else outcome.value
            display.finish_run(spec, records[spec], skipped=outcome.skipped)
            if local and not outcome.skipped:
                write_outputs(options, list(records.values()), command, engine, failures, with_plot=False)
        else:
            display.finish_run(spec, None, skipped=True)

    needs = {spec.run_id: (spec.upstream.run_id,) if spec.upstream else () for spec in runs}
    with StudyDisplay(planned) as display, make_executor(options, display) as executor:
        engine = executor.describe()
        local = engine["engine"] == "local"
        display.slots = executor.slots
        where = "" if local else (f" on Ray ({engine['address']}, {executor.slots} at once, "
                                  f"started in {engine['start_seconds']:.1f} s)")
        display.print(f"study 1 ({options.arch}): {len(runs)} runs ({options.n} scratch, stage 1, stage 2, "
                      f"{options.n} stage 3) -> {options.out}{where}")
        if executor.slots < options.workers:
            display.print(f"note: {executor.slots} runs at once, not {options.workers}: the cluster has "
                          f"{engine.get('cluster_cpus')} CPUs for --threads {threads} each")
        run_graph([s.run_id for s in runs], needs, make_task, executor, on_outcome)
        if other_threads:
            display.print(f"note: {len(other_threads)} earlier run(s) trained with another thread count than now "
                          f"({threads}): {', '.join(other_threads)}; the report gives each run's own "
                          "count; delete a run's folder to retime it")
    ordered = [records[s] for s in runs if s in records]
    write_outputs(options, ordered, command, engine, failures, with_plot=True)
    if failures:
        failed = {k: v for k, v in failures.items() if k not in not_run}
        lines = "; ".join(f"{k}: {v}" for k, v in failed.items())
        raise RunsFailedError(f"{len(failed)} of {len(runs)} runs failed ({lines})"
                              + (f", {len(not_run)} more not run because of them" if not_run else "")
                              + f"; the other runs are in {options.out / 'report.md'}")
    return ordered


def run_architectures(options: StudyOptions, archs: list[str], command: str) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """The protocol for each architecture in ``--out/<arch>/``; a failure is kept beside the others' results.

    Returns ``({arch: records}, {arch: error message})``. A folder that cannot be written stops everything.
    """
    from .lock import StudyLock

    results: dict[str, list[dict]] = {}
    failures: dict[str, str] = {}
    for arch in archs:
        sub = dataclasses.replace(options, arch=arch, out=options.out / arch)
        try:
            with StudyLock(sub.out):  # a study started on the sub-folder alone waits its turn too
                results[arch] = run_study(sub, command)
        except OutputFolderError:
            raise
        except OSError as e:
            if unwritable(e, options.out):
                raise unwritable(e, options.out) from e
            failures[arch] = _failure(sub, e)
        except Exception as e:  # noqa: BLE001 - one architecture's failure must not stop the others
            failures[arch] = _failure(sub, e)
        if arch in failures:
            print(f"error: {arch}: {failures[arch]}", file=sys.stderr)
    return results, failures


def _failure(options: StudyOptions, e: BaseException) -> str:
    """One line for a failed architecture; an unexpected error's traceback goes to ``<arch>/error.log``."""
    from common.errors import root_cause

    cause = root_cause(e)
    if isinstance(cause, OrchardError):
        return str(cause)
    log = options.out / "error.log"
    try:
        write_text_atomic(log, "".join(traceback.format_exception(e)))
    except OSError:
        return f"{type(e).__name__}: {e}"
    return f"{type(e).__name__}: {e} (traceback in {log})"


def main(args: argparse.Namespace | list[str]) -> int:
    """Run study 1 from parsed options (or an argument list, parsed here); 0 when every run finished."""
    from .lock import StudyLock

    argv = list(args) if isinstance(args, list) else list(getattr(args, "argv", []))
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    options = options_from_args(args)
    archs = architectures(args.arch)
    compare = args.arch.strip() == "all" or "," in args.arch
    options = dataclasses.replace(options, arch=archs[0])
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    if args.quick:
        ensure_synthetic_samples(options)
    check_data_roots(options)
    command = shlex.join(["python", "cli.py", "experiment", "transfer", *argv])
    try:
        with StudyLock(options.out) as lock:
            if lock.took_over:
                print(f"note: took over the lock of a process that is gone ({lock.took_over.get('pid')})")
            if compare:
                return _compare(options, archs, command)
            records = run_study(options, command)
    except OSError as e:
        failure = unwritable(e, options.out)
        if failure is None:
            raise
        raise failure from e
    from .progress import format_seconds

    total = sum(r["train_seconds"] for r in records)
    print(f"report:  {options.out / 'report.md'}  ({len(records)} runs, {format_seconds(total)} of training)")
    print(f"results: {options.out / 'results.json'}")
    print(f"plot:    {options.out / 'transfer.png'}")
    if any(r["data"]["synthetic"] for r in records):
        print("note: trained on SYNTHETIC data (procedurally generated, not Fruits-360 / CIFAR photographs)")
    return 0


def _compare(options: StudyOptions, archs: list[str], command: str) -> int:
    from common.machine import machine_info

    from .compare import write_comparison

    results, failures = run_architectures(options, archs, command)
    write_comparison(options, archs, results, failures, machine_info(), command)
    runs = sum(len(r) for r in results.values())
    print(f"report:  {options.out / 'report.md'}  ({len(archs)} architectures, {runs} runs"
          + (f"; failed: {', '.join(failures)}" if failures else "") + ")")
    print(f"results: {options.out / 'results.json'}")
    print(f"plot:    {options.out / 'comparison.png'}")
    if any(r["data"]["synthetic"] for recs in results.values() for r in recs):
        print("note: trained on SYNTHETIC data (procedurally generated, not Fruits-360 / CIFAR photographs)")
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
