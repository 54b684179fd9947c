"""The default executor: each run in this process, one after another (no Ray start-up, live per-epoch progress)."""
from __future__ import annotations

from typing import Iterable, Optional

from .jobs import Outcome, Progress, Task, call


class LocalExecutor:
    """Runs one task at a time, here, when the scheduler waits for it.

    Args:
        progress: where runs report their epochs (the study's display).
    """

    slots = 1

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._task: Optional[Task] = None

    def describe(self) -> dict:
        """The engine as ``results.json`` records it."""
        return {"engine": "local", "workers": 1}

    def submit(self, task: Task) -> None:
        self._task = task

    def wait(self) -> Iterable[Outcome]:
        task, self._task = self._task, None
        return [call(task, self.progress, {"worker": "local"})] if task is not None else []
