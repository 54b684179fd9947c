"""A study's unit of work (``Task``), what came of it (``Outcome``), and the progress a run reports while it runs."""
from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from common.atomic import write_text_atomic
from common.errors import OutputFolderError, one_line


class StudyStopped(OutputFolderError):
    """A run failed in a way that every other run would too (the output folder cannot be written)."""


class Progress(Protocol):
    """Where a running task reports progress (the study's display, here or across Ray)."""

    def started(self, key: str, total: int, done: int, where: str) -> None:
        """Task ``key`` began: ``done`` of ``total`` steps (epochs) are behind it already."""

    def advanced(self, key: str, done: int, info: str) -> None:
        """Task ``key`` finished step ``done``; ``info`` is a short status (e.g. validation accuracy)."""


@dataclass(frozen=True)
class Task:
    """One run: ``fn(*args, progress=...)``, where ``fn`` is a module-level function (it may run in another process).

    Attributes:
        key: the run's name, unique in the study.
        fn, args: what to call.
        log: a file that takes the task's stdout and stderr when it runs on a worker (``None``: left alone).
    """

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    log: Optional[Path] = None


@dataclass
class Outcome:
    """What came of a run: its value, or the one-line reason it failed (``error``), and where it ran.

    A run that was not attempted (its upstream failed) has an ``error`` too and ``not_run`` set; one
    decided without running (finished earlier) has ``skipped`` set; ``fatal`` marks a failure no other run can
    avoid (the output folder cannot be written), which stops the study.
    """

    key: str
    value: Any = None
    error: Optional[str] = None
    skipped: bool = False
    not_run: bool = False
    fatal: bool = False
    worker: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def where() -> dict[str, Any]:
    """This process as a worker: host name and pid."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def call(task: Task, progress: Progress, worker: Optional[dict[str, Any]] = None) -> Outcome:
    """Run ``task`` here and now; an exception becomes a failed :class:`Outcome`.

    The traceback of an unexpected exception goes to ``<log folder>/error.log`` when the task has a
    log, so the one line in the report can name where the rest is.
    """
    t0 = time.perf_counter()
    info = {**where(), **(worker or {})}
    try:
        value = task.fn(*task.args, progress=progress)
    except OutputFolderError as e:
        return Outcome(task.key, error=str(e), fatal=True, worker=info, seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one run's failure is reported beside the others' results
        message = one_line(e)
        if task.log is not None:
            error_log = task.log.with_name("error.log")
            try:
                error_log.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(error_log, "".join(traceback.format_exception(e)))
                message += f" (traceback in {error_log})"
            except OSError:
                pass
        return Outcome(task.key, error=message, worker=info, seconds=time.perf_counter() - t0)
    return Outcome(task.key, value=value, worker=info, seconds=time.perf_counter() - t0)
