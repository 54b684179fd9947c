"""Run a study's graph of runs: each starts once the runs it needs have finished, at most ``executor.slots`` at a time.

One slot runs the ready runs in the study's plan order, so the sequential path runs exactly the
protocol's order. With more slots, ready runs that others wait on go first (most runs downstream
first, then plan order): stage 1 starts beside the first scratch seed instead of after the last,
which keeps the longest chain of the study moving. A run whose upstream failed is not attempted: it fails with a
line naming the upstream, and runs that do not depend on it go on.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, Union

from .jobs import Outcome, StudyStopped, Task


class Executor(Protocol):
    """Runs tasks: here (``LocalExecutor``) or on Ray workers (``RayExecutor``)."""

    slots: int

    def submit(self, task: Task) -> None:
        """Start ``task`` (or queue it until :meth:`wait`)."""

    def wait(self) -> Iterable[Outcome]:
        """Block until at least one submitted task has finished; its outcomes (progress is reported meanwhile)."""


# make_task(key, {upstream key: value}) -> a Task to run, or an Outcome decided without running
TaskMaker = Callable[[str, dict[str, Any]], Union[Task, Outcome]]


def run_graph(order: Sequence[str], needs: Mapping[str, Sequence[str]], make_task: TaskMaker, executor: Executor,
              on_outcome: Callable[[Outcome], None]) -> dict[str, Outcome]:
    """Every key of ``order`` run (or decided) once, after the keys ``needs[key]`` names; returns the outcomes.

    ``make_task`` runs here, in the driver, when a key's upstream runs are done: it may decide the
    outcome without running (a finished run is skipped) or raise (a bad setting stops the study).
    ``on_outcome`` sees each outcome as it arrives.

    Raises:
        StudyStopped: a run's failure was fatal (runs still going are left to the executor to end).
    """
    outcomes: dict[str, Outcome] = {}
    waiting = list(order)
    if executor.slots > 1:
        below = downstream_counts(order, needs)
        waiting.sort(key=lambda k: -below[k])  # stable: plan order among equals
    running: set[str] = set()

    def settle(outcome: Outcome) -> None:
        if outcome.fatal:
            raise StudyStopped(outcome.error)
        outcomes[outcome.key] = outcome
        running.discard(outcome.key)
        on_outcome(outcome)

    while waiting or running:
        for key in list(waiting):
            upstream = needs.get(key, ())
            if any(u not in outcomes for u in upstream):
                continue
            failed = [u for u in upstream if not outcomes[u].ok]
            if not failed and len(running) >= executor.slots:
                continue  # no free slot; decided-without-running keys may still pass
            waiting.remove(key)
            if failed:
                settle(Outcome(key, error=f"not run: {failed[0]} failed", not_run=True))
                continue
            made = make_task(key, {u: outcomes[u].value for u in upstream})
            if isinstance(made, Outcome):
                settle(made)
                continue
            running.add(key)
            executor.submit(made)
        if running:
            for outcome in executor.wait():
                settle(outcome)
        elif waiting and not any(all(u in outcomes for u in needs.get(k, ())) for k in waiting):
            missing = sorted({u for k in waiting for u in needs.get(k, ()) if u not in outcomes and u not in waiting})
            raise ValueError(f"runs {waiting} need {missing}, which are not in the study")
    return outcomes


def downstream_counts(order: Sequence[str], needs: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """For each key, how many keys need it, directly or through others."""
    children: dict[str, list[str]] = {k: [] for k in order}
    for key in order:
        for upstream in needs.get(key, ()):
            children.setdefault(upstream, []).append(key)

    def below(key: str, seen: set[str]) -> set[str]:
        for child in children.get(key, []):
            if child not in seen:
                seen.add(child)
                below(child, seen)
        return seen

    return {k: len(below(k, set())) for k in order}
