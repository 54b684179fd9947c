"""One measurement of ``benchmark frameworks`` in a fresh process.

    python -m benchmarks.frameworks.worker SPEC.json

``SPEC.json`` names the ``kind`` (``lightning``, ``pytorch``, ``keras``, ``keras_tflite``,
``bridge_tflite``, ``tflite_latency``, ``peak``; :mod:`benchmarks.frameworks.runner`) and its
settings; the result, with the process's peak resident memory and start-up time, is written to
``spec["result"]``. Threads are fixed (``BenchmarkRunner.setup``) before any framework runs, so
every process computes with the same count.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from common.cuda_check import drop_nvml_check_without_nvml

from .runner import BenchmarkRunner, BetweenEpochs, runner_for

WALL0, PERF0 = time.time(), time.perf_counter()


def _process_start_wall() -> float:
    import psutil

    return psutil.Process().create_time()


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def import_footprint_mb() -> dict[str, float]:
    """Resident memory after importing torch, then pytorch_lightning (what Lightning's import adds)."""
    import torch  # noqa: F401

    before = _rss_mb()
    import pytorch_lightning  # noqa: F401

    return {"torch_mb": before, "pytorch_lightning_adds_mb": _rss_mb() - before}


def matmul_gflops(n: int = 1024, seconds: float = 2.0, dtype: str = "float32") -> dict[str, float]:
    """``n x n`` matmul throughput (GFLOP/s) in ``dtype`` with PyTorch's threads: the CPU's practical peak.

    ``sustained``: every product's FLOPs over all the time of back-to-back products, the way a
    training epoch's throughput is measured (slow moments of a shared machine included);
    ``best``: the fastest single product. A first product (thread pool and library warm-up) is
    left out of both.
    """
    import torch

    a, b = torch.randn(n, n).to(getattr(torch, dtype)), torch.randn(n, n).to(getattr(torch, dtype))
    torch.mm(a, b)
    flops, products, busy, fastest = 2 * n**3, 0, 0.0, float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        took = time.perf_counter() - t0
        products, busy, fastest = products + 1, busy + took, min(fastest, took)
    return {"sustained": flops * products / busy / 1e9, "best": flops / fastest / 1e9}


def sample_peak(fn: Callable[..., dict[str, float]], spec: dict[str, Any],
                between_epochs: Optional[Callable[[int], None]]) -> dict[str, Any]:
    """The matmul peak sampled ``spec["rounds"]`` times, once per turn when taking turns with training runs.

    Sampled between the training runs' epochs, the peak sees the same slow and fast spells of a
    shared machine as they do. ``matmul_gflops`` is the median sustained sample (what the training
    runs' achieved GFLOP/s are divided by: both are rates over whole stretches of work),
    ``matmul_gflops_best`` the median of the fastest single products.
    """
    from statistics import median

    seconds, samples = spec.get("seconds", 2.0), []
    for i in range(max(int(spec.get("rounds", 1)), 1)):
        if between_epochs is not None:
            between_epochs(i)
        samples.append(fn(seconds=seconds))
    bf16 = fn(seconds=seconds, dtype="bfloat16")
    return {"matmul_gflops": median(s["sustained"] for s in samples),
            "matmul_gflops_best": median(s["best"] for s in samples),
            "matmul_gflops_samples": samples,
            "matmul_gflops_bf16": bf16["sustained"], "matmul_gflops_bf16_best": bf16["best"]}


class PeakRunner(BenchmarkRunner):
    """``kind: peak``: the matmul peak (:func:`sample_peak`) and what importing Lightning costs in memory."""

    kind = "peak"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        return {"import_rss": import_footprint_mb(), **sample_peak(matmul_gflops, self.spec, between_epochs)}


def prepare(spec: dict[str, Any]) -> tuple[BenchmarkRunner, dict[str, Any], float]:
    """Import the spec's framework and fix its threads: the runner, the threads set, the resident MB after it."""
    runner = runner_for(spec["kind"])(spec)  # imports the runner's framework
    threads = runner.setup()
    if runner.threads_of == "torch":  # the Lightning runner's CLI does this too: the plain loop alike
        drop_nvml_check_without_nvml()
    return runner, threads, _rss_mb()


def run(spec: dict[str, Any], between_epochs: BetweenEpochs = None, first_turn_wait: float = 0.0,
        prepared: Optional[tuple[BenchmarkRunner, dict[str, Any], float]] = None) -> dict[str, Any]:
    """Run one measurement; ``spec`` is the parsed ``SPEC.json``.

    ``between_epochs(epoch)`` is handed to the training runs (``benchmarks.frameworks.turns``);
    ``first_turn_wait`` (seconds this process waited for its first turn) is not start-up;
    ``prepared``: what :func:`prepare` returned, when the framework was imported already.
    """
    runner, threads, imported_rss = prepared or prepare(spec)
    gc.freeze()  # every framework without full collections of its import-time objects, as a CLI fit runs
    try:
        result = runner.run(between_epochs)
    finally:
        gc.unfreeze()
    if result.get("first_epoch_start") is not None:
        result["startup_seconds"] = (WALL0 - _process_start_wall()) + (result["first_epoch_start"] - PERF0) \
            - first_turn_wait
    result.pop("first_epoch_start", None)
    result.update({
        "kind": runner.kind,
        "threads": threads,
        "rss_after_import_mb": imported_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pid": os.getpid(),
    })
    return result


def main(argv: list[str]) -> int:
    from common.allocator import tune_malloc
    from common.atomic import write_json_atomic

    from .turns import Turns

    turns = Turns()
    tune_malloc()  # every framework's process, as `python cli.py` does for a user's runs
    spec = json.loads(Path(argv[0]).read_text())
    # Start-up (imports, threads) runs in this process's first turn, alone on the machine; with
    # ``start_before_turn`` (``--quick``: tests and demos) the processes import side by side first.
    prepared = prepare(spec) if spec.get("start_before_turn") else None
    t0 = time.perf_counter()
    turns.take()  # a no-op without a coordinator
    first_turn_wait = time.perf_counter() - t0
    write_json_atomic(spec["result"], run(spec, turns.between_epochs, first_turn_wait, prepared))
    # The turn ends when this process exits and its pipe ends close (Turns: without finish()), so its
    # interpreter's teardown (freeing the framework's memory and thread pools) never overlaps the
    # next process's epochs.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
