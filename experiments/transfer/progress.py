"""A rich progress display for the whole study: which run, which stage, which epoch, and an ETA.

The ETA is wall-clock seconds per epoch measured per stage (validation, testing and set-up
included), times the epochs still to run; a stage not seen yet borrows the mean rate of the
stages that were.
"""
from __future__ import annotations

import time
from statistics import mean
from typing import Optional

import pytorch_lightning as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .plan import RunSpec

STAGE_LABELS = {
    "scratch": "scratch",
    "stage1": "stage 1 (CIFAR)",
    "stage2": "stage 2 (Fruits-360)",
    "stage3": "stage 3 (apple/pear/noise)",
}


def format_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class EtaModel:
    """Seconds per epoch for each stage, from what the study has measured so far."""

    def __init__(self) -> None:
        self.rates: dict[str, list[float]] = {}

    def observe(self, stage: str, wall_seconds: float, epochs: int) -> None:
        if epochs > 0:
            self.rates.setdefault(stage, []).append(wall_seconds / epochs)

    def rate(self, stage: str) -> Optional[float]:
        if stage in self.rates:
            return mean(self.rates[stage])
        seen = [mean(r) for r in self.rates.values()]
        return mean(seen) if seen else None

    def remaining(self, work: list[tuple[str, int]]) -> Optional[float]:
        """Seconds for ``[(stage, epochs), ...]``; ``None`` until one epoch was measured."""
        total = 0.0
        for stage, epochs in work:
            rate = self.rate(stage)
            if rate is None:
                return None
            total += rate * epochs
        return total


class StudyDisplay:
    """One line for the study (runs done, ETA) and one for the current run (stage, seed, epochs).

    Args:
        runs: the planned runs with their epochs, in order.
        console: where to draw (a terminal gets a live display, a pipe gets the summary lines).
    """

    def __init__(self, runs: list[tuple[RunSpec, int]], console: Optional[Console] = None) -> None:
        self.runs = runs
        self.console = console or Console()
        self.eta = EtaModel()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)
        self.study_task: Optional[TaskID] = None
        self.run_task: Optional[TaskID] = None
        self.index = 0
        self.current: Optional[RunSpec] = None
        self._run_t0 = 0.0
        self._epochs_done = 0

    def __enter__(self) -> "StudyDisplay":
        self.progress.start()
        self.study_task = self.progress.add_task("study", total=len(self.runs), info="ETA ?")
        self.run_task = self.progress.add_task("", total=1, info="", visible=False)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def print(self, message: str) -> None:
        self.progress.console.print(message, highlight=False)

    # -- events ---------------------------------------------------------------------
    def start_run(self, index: int, spec: RunSpec, epochs: int, done_epochs: int = 0) -> None:
        self.index, self.current = index, spec
        self._run_t0, self._epochs_done = time.perf_counter(), done_epochs
        label = f"[{index + 1}/{len(self.runs)}] {STAGE_LABELS[spec.stage]} seed {spec.seed}"
        self.progress.update(self.run_task, description=label, total=epochs, completed=done_epochs, info="", visible=True)
        self._update_study()

    def epoch_end(self, epoch: int, val_accuracy: Optional[float]) -> None:
        self._epochs_done = epoch + 1
        info = f"val acc {val_accuracy:.3f}" if val_accuracy is not None else ""
        self.progress.update(self.run_task, completed=self._epochs_done, info=info)
        self._update_study()

    def finish_run(self, index: int, spec: RunSpec, record: dict, skipped: bool = False) -> None:
        self.index = index
        if not skipped:
            self.eta.observe(spec.stage, time.perf_counter() - self._run_t0, max(1, record["epochs"] - (record.get("resumed_from_epoch") or 0)))
        self.progress.update(self.study_task, advance=1)
        self.progress.update(self.run_task, visible=False)
        verb = "skipped (done before)" if skipped else "done"
        self.print(f"{spec.run_id:<14} {verb}: {record['epochs']} epochs, train {record['train_seconds']:.1f} s, "
                   f"test acc {100 * record['test_accuracy']:.1f} %")
        self.current = None
        self._update_study()

    # -- ETA ------------------------------------------------------------------------
    def _current_rate(self) -> Optional[float]:
        if self.current is None or self._epochs_done == 0:
            return None
        return (time.perf_counter() - self._run_t0) / self._epochs_done

    def remaining_seconds(self) -> Optional[float]:
        work = [(spec.stage, epochs) for spec, epochs in self.runs[self.index + (self.current is None):]]
        if self.current is not None and work:
            stage, epochs = work[0]
            rate = self._current_rate() or self.eta.rate(stage)
            rest = self.eta.remaining(work[1:])
            if rate is None or rest is None:
                return None
            return rate * max(0, epochs - self._epochs_done) + rest
        return self.eta.remaining(work)

    def _update_study(self) -> None:
        self.progress.update(self.study_task, info=f"ETA {format_seconds(self.remaining_seconds())}")

    def callback(self) -> pl.Callback:
        """A Lightning callback that reports each finished epoch here."""
        return _EpochReporter(self)


class _EpochReporter(pl.Callback):
    def __init__(self, display: StudyDisplay) -> None:
        self.display = display

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val_acc")
        self.display.epoch_end(trainer.current_epoch, float(acc) if acc is not None else None)
