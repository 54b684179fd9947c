"""One run of the study through the real LightningCLI, resumable from its last checkpoint.

A run lives in ``<out>/runs/<run_id>/``: ``args.json`` (its CLI arguments and the settings that
decide its result), ``fit/`` (the Lightning run folder: ``config.yaml``, ``metrics.csv``,
``timing.json``, ``checkpoints/``) and, once it has finished and been tested, ``record.json``
(written atomically; its paths are relative to ``<out>``, so a moved or copied study folder
resumes). A rerun of the study skips runs with a record and resumes a run that has
``fit/checkpoints/last.ckpt`` but no record, with ``ckpt_path`` = that checkpoint; the epochs
logged before the interruption stay in ``metrics.csv``.

Settings are compared only where something was trained with them (a record, or a checkpoint to
resume): a start that failed before its first epoch blocks nothing. What is compared is what
changes a run's result (config, seed, architecture, epochs, data and its root, batch size, extra
arguments), not where its files lie and not the thread count, which each record keeps as its own.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import torch

from common.atomic import write_json_atomic
from common.errors import OrchardError, unwritable
from experiments.engine.jobs import Progress, where
from lightning_modules.trainer import finished_epochs, fit_stage

from .callbacks import EpochHistory, KillSwitch
from .plan import RunSpec, StudyOptions, fit_args, planned_epochs, stage_config, stage_settings
from .progress import EpochReporter

RECORD = "record.json"
ARGS = "args.json"
METRICS = "metrics.csv"
EARLIER_METRICS = ".metrics-before-resume.csv"  # epochs logged before a kill, until merged back
RECORD_KEYS = ("stage", "seed", "run_id", "epochs", "train_seconds", "epoch_seconds", "test_accuracy", "val_accuracy",
               "checkpoint", "data")


class DamagedRecordError(Exception):
    """A run's ``record.json`` cannot be read (the run is redone from its checkpoint)."""
def run_dir(options: StudyOptions, spec: RunSpec) -> Path:
    return options.runs_dir / spec.run_id


def last_checkpoint(options: StudyOptions, spec: RunSpec) -> Path:
    return run_dir(options, spec) / "fit" / "checkpoints" / "last.ckpt"


def relative_to_out(options: StudyOptions, path: str | Path) -> str:
    """``path`` relative to the study folder when it lies inside it (records stay valid when the folder moves)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(options.out.resolve()))
    except ValueError:
        return str(path)


def in_out(options: StudyOptions, path: str) -> Path:
    """A path read from a record: relative ones are relative to the study folder."""
    return Path(path) if Path(path).is_absolute() else options.out / path


def _pairs(args: list[str]) -> list[list[str]]:
    """``--flag value`` / ``--flag=value`` arguments as ``[flag, value]`` pairs (a lone flag gets ``""``)."""
    pairs, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            pairs.append(arg.split("=", 1))
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            pairs.append([arg, args[i + 1]])
            i += 1
        else:
            pairs.append([arg, ""])
        i += 1
    return pairs


def settings_of(args: list[str]) -> list[list[str]]:
    """What of a run's arguments changes its result: no file locations, the config by name, data roots resolved."""
    settings = []
    for flag, value in _pairs(args):
        if flag == "--trainer.logger.init_args.save_dir":
            continue  # where the run's files go
        if flag == "--model.init_from":
            value = "(set by the study)"  # the upstream run the plan names; its path moves with the folder
        elif flag == "--config":
            value = Path(value).name
        elif flag == "--data.init_args.root":
            value = str(Path(value).resolve())
        settings.append([flag, value])
    return settings


def _stored_settings(folder: Path) -> Optional[list[list[str]]]:
    """The settings in ``args.json`` (either form it was written in); ``None`` when absent or unreadable."""
    try:
        stored = json.loads((folder / ARGS).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(stored, list):  # the first form: the argument list alone
        return settings_of([str(a) for a in stored])
    return stored.get("settings") if isinstance(stored, dict) else None


def _compare_settings(folder: Path, before: Optional[list], now: list[list[str]]) -> None:
    if before is None or before == now:
        return
    before_d, now_d = dict(map(tuple, before)), dict(map(tuple, now))
    flag = next((k for k in [*now_d, *before_d] if before_d.get(k) != now_d.get(k)), "")
    was, then = before_d.get(flag, "nothing"), now_d.get(flag, "nothing")
    raise OrchardError(f"{folder} was trained with other settings ({flag} {was}, now {then}); "
                       "use another --out, or delete that run to retrain it")


def load_record(options: StudyOptions, spec: RunSpec, init_from: Optional[Path]) -> Optional[dict[str, Any]]:
    """The finished run's record (made with these very settings), or ``None`` when it has not finished.

    Raises:
        OrchardError: the run finished with settings that change its result.
        DamagedRecordError: ``record.json`` is unreadable (truncated, not JSON, keys missing).
    """
    folder = run_dir(options, spec)
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or any(k not in record for k in RECORD_KEYS):
            raise ValueError("keys missing")
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedRecordError(f"{path} is damaged ({e.__class__.__name__})") from e
    now = settings_of(fit_args(spec, options, init_from))
    _compare_settings(folder, record.get("settings") or _stored_settings(folder), now)
    return record


def prepare(options: StudyOptions, spec: RunSpec, init_from: Optional[Path]) -> tuple[list[str], Optional[Path], int]:
    """The run's arguments, the checkpoint to resume from (if any) and the epochs it already has.

    Settings are checked against ``args.json`` only when there is a checkpoint to resume; without
    one nothing was trained, so the run starts clean (no stale logs, no ``last-v1.ckpt``).
    """
    args = fit_args(spec, options, init_from)
    folder = run_dir(options, spec)
    last = last_checkpoint(options, spec)
    done = finished_epochs(last) if last.is_file() else None
    if done is not None:
        _compare_settings(folder, _stored_settings(folder), settings_of(args))
        _keep_earlier_metrics(folder / "fit", done)
    else:
        shutil.rmtree(folder / "fit", ignore_errors=True)
    write_json_atomic(folder / ARGS, {"args": args, "settings": settings_of(args)})
    return args, (last if done is not None else None), done or 0


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _write_rows(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    from common.atomic import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _epoch_of(row: dict[str, str]) -> float:
    try:
        return float(row.get("epoch") or "inf")
    except ValueError:
        return float("inf")


def _keep_earlier_metrics(fit_dir: Path, done: int) -> None:
    """Before a resume: set aside the rows of the ``done`` finished epochs (Lightning's CSVLogger starts a new file).

    Rows set aside by an earlier resume that was itself interrupted are kept too.
    """
    fields, rows = _read_rows(fit_dir / EARLIER_METRICS)
    new_fields, new_rows = _read_rows(fit_dir / METRICS)
    rows = [r for r in rows + new_rows if _epoch_of(r) < done]
    fields = sorted(set(fields) | set(new_fields))
    if rows:
        _write_rows(fit_dir / EARLIER_METRICS, fields, rows)


def _merge_earlier_metrics(fit_dir: Path) -> None:
    """After a resumed fit: ``metrics.csv`` = the rows set aside before it, then the resumed fit's own."""
    earlier = fit_dir / EARLIER_METRICS
    if not earlier.is_file():
        return
    fields, rows = _read_rows(earlier)
    new_fields, new_rows = _read_rows(fit_dir / METRICS)
    _write_rows(fit_dir / METRICS, sorted(set(fields) | set(new_fields)), rows + new_rows)
    earlier.unlink()


def execute(options: StudyOptions, spec: RunSpec, init_from: Optional[Path], *, progress: Progress) -> dict[str, Any]:
    """Fit (or resume) and test one run, reporting its epochs to ``progress``; write and return its record.

    Here or on a Ray worker: everything it needs is in its arguments and on disk.

    Raises:
        OutputFolderError: the study folder cannot be written (no other run could be either).
    """
    try:
        return _execute(options, spec, init_from, progress)
    except OSError as e:
        failure = unwritable(e, options.out)
        if failure is None:
            raise
        raise failure from e


def _execute(options: StudyOptions, spec: RunSpec, init_from: Optional[Path], progress: Progress) -> dict[str, Any]:
    if options.threads:
        torch.set_num_threads(options.threads)
    args, resume, done = prepare(options, spec, init_from)
    started_at = time.time()
    wall_t0 = time.perf_counter()
    history = EpochHistory()
    extra = [history, EpochReporter(progress, spec.run_id)]
    kill = KillSwitch.from_env(spec.run_id)
    if kill is not None:
        extra.append(kill)
    progress.started(spec.run_id, planned_epochs(spec, options), done, "")
    fit = fit_stage(stage_config(spec), stage_settings(spec, options, init_from), callbacks=extra, ckpt_path=resume)
    _merge_earlier_metrics(fit.log_dir)
    model, data, log_dir = fit.model, fit.datamodule, fit.log_dir
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    record = {
        "stage": spec.stage,
        "seed": spec.seed,
        "run_id": spec.run_id,
        "arch": model.hparams.arch,
        "epochs": fit.epochs,
        "train_seconds": fit.train_seconds,
        "epoch_seconds": fit.epoch_seconds,
        "images_per_second": fit.images_per_second,
        "setup_seconds": fit.setup_seconds,  # inside train_seconds: the feature cache's build
        "feature_cache": fit.feature_cache,
        "test_accuracy": fit.metrics["test_acc"],
        "test_loss": fit.metrics["test_loss"],
        "val_accuracy": history.val_accuracy,
        "checkpoint": relative_to_out(options, last_checkpoint(options, spec)),
        "best_checkpoint": relative_to_out(options, fit.best_checkpoint) if fit.best_checkpoint else None,
        "init_from": relative_to_out(options, init_from) if init_from else None,
        "frozen_blocks": model.frozen_blocks,
        "trainable_params": model.trainable_params,
        "frozen_share": frozen / (frozen + model.trainable_params) if frozen + model.trainable_params else 0.0,
        "num_classes": data.num_classes,
        "data": {"root": str(data.root), "kind": type(data).__name__, "synthetic": bool(data.synthetic),
                 "dataset": getattr(data, "dataset", "fruits360"), "train_images": int(data.splits["train"][0].shape[0]),
                 "test_images": int(data.splits["test"][0].shape[0])},
        "resumed_from_epoch": done or None,
        "wall_seconds": time.perf_counter() - wall_t0,
        "started_at": started_at,  # Unix times: when each run ran, beside the others
        "finished_at": time.time(),
        "log_dir": relative_to_out(options, log_dir),
        "config": relative_to_out(options, log_dir / "config.yaml"),
        "device": fit.device,
        "threads": torch.get_num_threads(),
        "worker": where(),
        "settings": settings_of(args),
    }
    write_json_atomic(run_dir(options, spec) / RECORD, record)
    return record
