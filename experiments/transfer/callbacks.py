"""Callbacks the study adds to every run: per-epoch validation history, and a kill switch for testing resumes."""
from __future__ import annotations

import os
import signal
from typing import Any

import pytorch_lightning as pl

KILL_ENV = "ORCHARD_STUDY_KILL_AT"


class EpochHistory(pl.Callback):
    """Validation accuracy after every training epoch (for time-to-target-accuracy).

    Kept in the run's checkpoints, so a run resumed from ``last.ckpt`` keeps the epochs it
    had before it was interrupted.
    """

    def __init__(self) -> None:
        self.val_accuracy: list[float] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or "val_acc" not in trainer.callback_metrics:
            return
        self.val_accuracy.append(float(trainer.callback_metrics["val_acc"]))

    def state_dict(self) -> dict[str, Any]:
        return {"val_accuracy": list(self.val_accuracy)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.val_accuracy = list(state_dict.get("val_accuracy", []))


class KillSwitch(pl.Callback):
    """SIGKILLs this process at the first training batch of epoch ``epoch`` (0-based) of run ``run_id``.

    Armed only by ``ORCHARD_STUDY_KILL_AT=<run_id>:<epoch>``: the resumability tests use it to
    kill a study for real (no clean-up, no flush) in the middle of a run, after ``last.ckpt``
    of the previous epoch was written. A fit that resumes at or after that epoch is left alone,
    so a retry (a Ray task rerun after its worker died) finishes the run.
    """

    def __init__(self, run_id: str, epoch: int) -> None:
        self.run_id = run_id
        self.epoch = epoch
        self.armed = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.armed = trainer.current_epoch < self.epoch

    @classmethod
    def from_env(cls, run_id: str) -> "KillSwitch | None":
        target, _, epoch = os.environ.get(KILL_ENV, "").rpartition(":")
        return cls(run_id, int(epoch)) if target == run_id and epoch.isdigit() else None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        if self.armed and trainer.current_epoch == self.epoch and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGKILL)
