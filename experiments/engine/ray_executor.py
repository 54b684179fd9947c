"""Runs as Ray tasks: on an embedded local cluster (the machine's cores) or on a cluster joined by address.

Each run is one Ray task reserving ``threads`` CPUs (and ``gpus`` GPUs); at most ``slots`` run at
once. A task sets torch's thread count itself, so a run's result depends on its settings and
thread count, not on the worker that ran it. Its stdout and stderr go to the run's log file; its
progress reaches the driver through a small actor the driver drains while it waits. A worker
process that dies mid-run (killed, out of memory) is retried by Ray, and the retry resumes from
the run's last checkpoint like any rerun.

Every node must see the same orchard install, data roots and study folder at the same paths (a
shared filesystem), as with any multi-node training.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Any, Iterable, Iterator, Optional

from common.errors import OrchardError, one_line
from common.machine import usable_cores
from common.output import verbose

from .jobs import Outcome, Progress, Task, call

POLL_SECONDS = 0.5
RETRIES = 3  # worker processes that die mid-run (Ray's default for tasks)


class RayStartError(OrchardError):
    """Ray could not be started or the cluster could not be joined."""


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is a dependency; a broken install says so in one line
        raise RayStartError(f"--workers/--ray-address need Ray, which cannot be imported: {e}") from e
    return ray


class _Events:
    """A Ray actor holding progress events until the driver drains them."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def push(self, event: tuple) -> None:
        self.events.append(event)

    def drain(self) -> list[tuple]:
        events, self.events = self.events, []
        return events


class _RemoteProgress:
    """The :class:`~experiments.engine.jobs.Progress` a Ray task reports to (fire and forget)."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def started(self, key: str, total: int, done: int, where: str) -> None:
        import socket

        self.events.push.remote(("started", key, total, done, where or f"{socket.gethostname()}:{os.getpid()}"))

    def advanced(self, key: str, done: int, info: str) -> None:
        self.events.push.remote(("advanced", key, done, info))


@contextlib.contextmanager
def _output_to(path: Optional[os.PathLike]) -> Iterator[None]:
    """The process's stdout and stderr (file descriptors 1 and 2, so C libraries' output too) into ``path``."""
    if path is None:
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _run_on_worker(task: Task, events: Any, threads: int) -> Outcome:
    """The body of every Ray task: the run with this worker's thread count, output into its log."""
    import ray
    import torch

    torch.set_num_threads(threads)
    context = ray.get_runtime_context()
    worker = {"worker": context.get_worker_id()[:12], "node": context.get_node_id()[:12]}
    with _output_to(task.log):
        return call(task, _RemoteProgress(events), worker)


class RayExecutor:
    """Runs tasks on Ray, at most ``slots`` at once.

    Args:
        progress: the driver's display; task progress is forwarded to it while waiting.
        workers: runs at once (capped by the CPUs the cluster has for ``threads`` each).
        threads: CPUs each run reserves and the torch threads it uses.
        gpus: GPUs each run reserves (0: CPU runs).
        address: ``None`` starts Ray here with this machine's cores; ``auto`` or ``ray://host:port``
            joins a running cluster.
    """

    def __init__(self, progress: Progress, workers: int, threads: int, gpus: float = 0, address: Optional[str] = None) -> None:
        self.progress = progress
        self.threads, self.gpus, self.address, self.requested = threads, gpus, address, workers
        self.start_seconds = 0.0
        self.slots = workers
        self._pending: dict[Any, Task] = {}
        self._events: Any = None
        self._remote: Any = None

    def __enter__(self) -> "RayExecutor":
        ray = _ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        t0 = time.perf_counter()
        quiet = not verbose()
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet,
                                  "logging_level": logging.ERROR if quiet else logging.INFO}
        if self.address is None:  # a new Ray of our own, even where RAY_ADDRESS or a `ray start` cluster exists
            kwargs["num_cpus"] = usable_cores()
        try:
            ray.init(address=self.address or "local", **kwargs)
        except Exception as e:  # noqa: BLE001 - Ray's start-up errors vary; the user needs the address and the reason
            where = f"join the Ray cluster at {self.address}" if self.address else "start Ray on this machine"
            raise RayStartError(f"could not {where}: {one_line(e)}") from e
        self.start_seconds = time.perf_counter() - t0
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.threads:
            ray.shutdown()
            raise RayStartError(f"the Ray cluster has {cpus} CPU(s); a run asks for --threads {self.threads}")
        self.slots = max(1, min(self.requested, cpus // self.threads))
        if self.gpus:  # Ray would queue a run that asks for more GPUs than exist for ever, without a word
            gpus = float(ray.cluster_resources().get("GPU", 0))
            if gpus < self.gpus:
                ray.shutdown()
                raise RayStartError(f"the Ray cluster has {gpus:g} GPU(s); a run asks for --gpus-per-run {self.gpus:g}")
            self.slots = max(1, min(self.slots, int(gpus // self.gpus)))
        self._events = ray.remote(num_cpus=0)(_Events).remote()
        self._remote = ray.remote(_run_on_worker).options(num_cpus=self.threads, num_gpus=self.gpus,
                                                          max_retries=RETRIES)
        return self

    def __exit__(self, *exc: Any) -> None:
        _ray().shutdown()

    def describe(self) -> dict[str, Any]:
        """The engine as ``results.json`` records it."""
        ray = _ray()
        return {"engine": "ray", "ray_version": ray.__version__, "address": self.address or "local",
                "workers": self.slots, "workers_requested": self.requested, "threads_per_run": self.threads,
                "gpus_per_run": self.gpus, "cluster_cpus": int(ray.cluster_resources().get("CPU", 0)),
                "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
                "start_seconds": round(self.start_seconds, 2)}

    def submit(self, task: Task) -> None:
        self._pending[self._remote.remote(task, self._events, self.threads)] = task

    def _forward_progress(self) -> None:
        for kind, key, *rest in _ray().get(self._events.drain.remote()):
            getattr(self.progress, kind)(key, *rest)

    def wait(self) -> Iterable[Outcome]:
        ray = _ray()
        while True:
            done, _ = ray.wait(list(self._pending), num_returns=1, timeout=POLL_SECONDS)
            self._forward_progress()
            if done:
                break
        outcomes = []
        for ref in done:
            task = self._pending.pop(ref)
            try:
                outcomes.append(ray.get(ref))
            except Exception as e:  # noqa: BLE001 - the worker died more often than Ray retries
                outcomes.append(Outcome(task.key, error=f"the worker running it died: {one_line(e)}"))
        return outcomes
