"""One run of the study through the real LightningCLI, resumable from its last checkpoint.

A run lives in ``<out>/runs/<run_id>/``: ``args.json`` (its CLI arguments), ``fit/`` (the
Lightning run folder: ``config.yaml``, ``metrics.csv``, ``timing.json``, ``checkpoints/``) and,
once it has finished and been tested, ``record.json`` (written atomically). A rerun of the
study skips runs with a record and resumes a run that has ``fit/checkpoints/last.ckpt`` but
no record, with ``ckpt_path`` = that checkpoint.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from common.atomic import write_json_atomic
from common.errors import OrchardError
from lightning_modules.callbacks import TrainingTimer
from lightning_modules.lightning_cli import make_cli

from .transfer_callbacks import EpochHistory, KillSwitch
from .transfer_plan import RunSpec, StudyOptions, fit_args
from .transfer_progress import StudyDisplay

RECORD = "record.json"
ARGS = "args.json"
NOISY_WARNINGS = (
    r"Found \d+ module\(s\) in eval mode",  # frozen blocks are in eval mode on purpose
    r".*does not have many workers.*",  # whole in-memory batches, no DataLoader workers to add
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    r"LightningCLI's args parameter is intended",
    r".*sync_dist=True.*",
    r".*LeafSpec.*",
    r"The number of training batches .* is smaller than the logging interval",
)


def run_dir(options: StudyOptions, spec: RunSpec) -> Path:
    return options.runs_dir / spec.run_id


def last_checkpoint(options: StudyOptions, spec: RunSpec) -> Path:
    return run_dir(options, spec) / "fit" / "checkpoints" / "last.ckpt"


def load_record(options: StudyOptions, spec: RunSpec, init_from: Optional[Path]) -> Optional[dict[str, Any]]:
    """The finished run's record (made with these very settings), or ``None`` when it has not finished."""
    path = run_dir(options, spec) / RECORD
    if not path.is_file():
        return None
    _check_same_settings(run_dir(options, spec), fit_args(spec, options, init_from))
    return json.loads(path.read_text())


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-run banners and expected warnings off; the study display says what happens."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _finished_epochs(checkpoint: Path) -> Optional[int]:
    """Epochs completed in a readable checkpoint; ``None`` when it is damaged (a kill mid-write)."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        return len(state["callbacks"][next(k for k in state["callbacks"] if k.startswith("TrainingTimer"))]["epoch_seconds"])
    except Exception:  # noqa: BLE001 - any failure means the checkpoint cannot be resumed from
        return None


def _check_same_settings(folder: Path, args: list[str]) -> None:
    path = folder / ARGS
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    if before != args:
        i = next((i for i, (a, b) in enumerate(zip(before, args)) if a != b), min(len(before), len(args)))
        flag = args[i - 1] if 0 < i <= len(args) else ""
        was, now = (before[i] if i < len(before) else "nothing"), (args[i] if i < len(args) else "nothing")
        raise OrchardError(f"{folder} was trained with other settings ({flag} {was}, now {now}); "
                           "use another --out, or delete that run to retrain it")


def prepare(options: StudyOptions, spec: RunSpec, init_from: Optional[Path]) -> tuple[list[str], Optional[Path], int]:
    """The run's arguments, the checkpoint to resume from (if any) and the epochs it already has."""
    args = fit_args(spec, options, init_from)
    folder = run_dir(options, spec)
    _check_same_settings(folder, args)
    last = last_checkpoint(options, spec)
    done = _finished_epochs(last) if last.is_file() else None
    if done is None:  # nothing to resume: start clean (no stale logs, no last-v1.ckpt)
        shutil.rmtree(folder / "fit", ignore_errors=True)
    write_json_atomic(folder / ARGS, args)
    return args, (last if done is not None else None), done or 0


def execute(options: StudyOptions, spec: RunSpec, init_from: Optional[Path], display: StudyDisplay, index: int) -> dict[str, Any]:
    """Fit (or resume) and test one run; write and return its record."""
    args, resume, done = prepare(options, spec, init_from)
    wall_t0 = time.perf_counter()
    with quiet_lightning():
        cli = make_cli(args, run=False)
        trainer, model, data = cli.trainer, cli.model, cli.datamodule
        history = EpochHistory()
        trainer.callbacks.extend([history, display.callback()])
        kill = KillSwitch.from_env(spec.run_id)
        if kill is not None:
            trainer.callbacks.append(kill)
        display.start_run(index, spec, trainer.max_epochs, done_epochs=done)
        trainer.fit(model, datamodule=data, ckpt_path=str(resume) if resume else None)
        test = trainer.test(model, datamodule=data, verbose=False)[0]
    timer = next(c for c in trainer.callbacks if isinstance(c, TrainingTimer))
    log_dir = Path(trainer.log_dir)
    ckpt = trainer.checkpoint_callback
    record = {
        "stage": spec.stage,
        "seed": spec.seed,
        "run_id": spec.run_id,
        "arch": model.hparams.arch,
        "epochs": timer.result["epochs"],
        "train_seconds": timer.result["train_seconds"],
        "epoch_seconds": timer.result["epoch_seconds"],
        "images_per_second": timer.result["images_per_second"],
        "test_accuracy": float(test["test_acc"]),
        "test_loss": float(test["test_loss"]),
        "val_accuracy": history.val_accuracy,
        "checkpoint": str(last_checkpoint(options, spec).resolve()),
        "best_checkpoint": str(Path(ckpt.best_model_path).resolve()) if ckpt and ckpt.best_model_path else None,
        "init_from": str(init_from) if init_from else None,
        "frozen_blocks": model.frozen_blocks,
        "trainable_params": model.trainable_params,
        "num_classes": data.num_classes,
        "data": {"root": str(data.root), "kind": type(data).__name__, "synthetic": bool(data.synthetic),
                 "dataset": getattr(data, "dataset", "fruits360"), "train_images": int(data.splits["train"][0].shape[0]),
                 "test_images": int(data.splits["test"][0].shape[0])},
        "resumed_from_epoch": done or None,
        "wall_seconds": time.perf_counter() - wall_t0,
        "log_dir": str(log_dir.resolve()),
        "config": str((log_dir / "config.yaml").resolve()),
        "device": timer.result.get("device"),
    }
    write_json_atomic(run_dir(options, spec) / RECORD, record)
    return record
