"""A rich progress display for the whole study: runs done / running / queued, each running run's epoch, and an ETA.

The ETA is wall-clock seconds per epoch measured per stage (validation, testing and set-up
included), times the epochs still to run, shared among the runs that train at once; a stage not
seen yet borrows the mean rate of the stages that were.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import mean
from typing import Any, Optional

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
    """One line for the study (done / running / queued, ETA) and one per running run (stage, seed, epochs).

    It is the :class:`~experiments.engine.jobs.Progress` the runs report to, in this process or,
    forwarded by the Ray executor, from workers.

    Args:
        runs: the planned runs with their epochs, in order.
        console: where to draw (a terminal gets a live display, a pipe gets the summary lines).
        slots: runs that train at once (divides the ETA).
    """

    def __init__(self, runs: list[tuple[RunSpec, int]], console: Optional[Console] = None, slots: int = 1) -> None:
        self.runs = runs
        self.index = {spec.run_id: i for i, (spec, _) in enumerate(runs)}
        self.console = console or Console()
        self.slots = slots
        self.eta = EtaModel()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)
        self.study_task: Optional[TaskID] = None
        self.running: dict[str, _Running] = {}
        self.finished: set[str] = set()

    def __enter__(self) -> "StudyDisplay":
        self.progress.start()
        self.study_task = self.progress.add_task("study", total=len(self.runs), info="ETA ?")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def print(self, message: str) -> None:
        """One line above the live display, never folded (paths in it stay whole for grep and logs)."""
        self.progress.console.print(message, highlight=False, soft_wrap=True)

    # -- events (the Progress protocol) -----------------------------------------------
    def started(self, key: str, total: int, done: int, where: str) -> None:
        if key in self.finished:  # a worker's event that arrived after the run's outcome
            return
        spec = self.runs[self.index[key]][0]
        label = f"[{self.index[key] + 1}/{len(self.runs)}] {STAGE_LABELS[spec.stage]} seed {spec.seed}"
        if where:
            label += f" on {where}"
        if key in self.running:
            self.progress.remove_task(self.running[key].task)
        task = self.progress.add_task(label, total=total, completed=done, info="")
        self.running[key] = _Running(spec.stage, task, time.perf_counter(), done, done, total)
        self._update_study()

    def advanced(self, key: str, done: int, info: str) -> None:
        run = self.running.get(key)
        if run is None:
            return
        run.done = done
        self.progress.update(run.task, completed=done, info=info)
        self._update_study()

    def finish_run(self, spec: RunSpec, record: Optional[dict], skipped: bool = False, error: Optional[str] = None) -> None:
        """A run ended: its record (``skipped``: made earlier), or the line saying why it failed."""
        run = self.running.pop(spec.run_id, None)
        if run is not None:
            self.progress.remove_task(run.task)
            if record is not None and not skipped:
                self.eta.observe(spec.stage, time.perf_counter() - run.t0, max(1, run.done - run.first))
        self.finished.add(spec.run_id)
        self.progress.update(self.study_task, advance=1)
        if error is not None:
            self.print(f"{spec.run_id:<14} FAILED: {error}")
        elif record is not None:
            verb = "skipped (done before)" if skipped else "done"
            self.print(f"{spec.run_id:<14} {verb}: {record['epochs']} epochs, train {record['train_seconds']:.1f} s, "
                       f"test acc {100 * record['test_accuracy']:.1f} %")
        self._update_study()

    # -- ETA ------------------------------------------------------------------------
    def remaining_seconds(self) -> Optional[float]:
        """Seconds until every planned run has finished, at ``slots`` runs at once; ``None`` until a rate is known."""
        total = 0.0
        for key, run in self.running.items():
            rate = ((time.perf_counter() - run.t0) / (run.done - run.first) if run.done > run.first
                    else self.eta.rate(run.stage))
            if rate is None:
                return None
            total += rate * max(0, run.total - run.done)
        queued = [(spec.stage, epochs) for spec, epochs in self.runs
                  if spec.run_id not in self.finished and spec.run_id not in self.running]
        rest = self.eta.remaining(queued)
        if rest is None:
            return None
        return (total + rest) / max(1, min(self.slots, len(self.running) + len(queued)))

    def _update_study(self) -> None:
        queued = len(self.runs) - len(self.finished) - len(self.running)
        info = f"{len(self.running)} running, {queued} queued, ETA {format_seconds(self.remaining_seconds())}"
        self.progress.update(self.study_task, info=info)

    def callback(self, key: str) -> pl.Callback:
        """A Lightning callback that reports each finished epoch of run ``key`` here."""
        return EpochReporter(self, key)


@dataclass
class _Running:
    stage: str
    task: TaskID
    t0: float
    first: int  # epochs done when this attempt began
    done: int
    total: int


class EpochReporter(pl.Callback):
    """Reports each finished training epoch of run ``key`` (and its validation accuracy) to a progress sink."""

    def __init__(self, progress: Any, key: str) -> None:
        self.sink = progress
        self.key = key

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val_acc")
        self.sink.advanced(self.key, trainer.current_epoch + 1, f"val acc {float(acc):.3f}" if acc is not None else "")
