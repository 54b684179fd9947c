"""One measurement of ``benchmark frameworks`` in a fresh process.

    python -m benchmarks.frameworks_worker SPEC.json

``SPEC.json`` names the ``kind`` (``lightning``, ``pytorch``, ``keras``, ``keras_tflite``,
``bridge_tflite``, ``tflite_latency``, ``peak``) and its settings; the result, with the
process's peak resident memory and start-up time, is written to ``spec["result"]``.
Threads are fixed before any framework runs, so every process computes with the same count.
"""
from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

WALL0, PERF0 = time.time(), time.perf_counter()


def _process_start_wall() -> float:
    import psutil

    return psutil.Process().create_time()


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _set_threads(kind: str, threads: int) -> dict[str, Any]:
    if kind == "keras" or kind == "keras_tflite":
        from tf_models import set_tf_threads

        set_tf_threads(threads)
        return {"tensorflow_intra_op": threads, "tensorflow_inter_op": threads}
    if kind in {"lightning", "pytorch", "bridge_tflite", "peak"}:
        import torch

        torch.set_num_threads(threads)
        return {"torch": torch.get_num_threads()}
    return {"tflite_interpreter": threads}


def import_footprint_mb() -> dict[str, float]:
    """Resident memory after importing torch, then pytorch_lightning (what Lightning's import adds)."""
    import torch  # noqa: F401

    before = _rss_mb()
    import pytorch_lightning  # noqa: F401

    return {"torch_mb": before, "pytorch_lightning_adds_mb": _rss_mb() - before}


def matmul_gflops(n: int = 1024, seconds: float = 2.0, dtype: str = "float32") -> float:
    """Best ``n x n`` matmul throughput (GFLOP/s) in ``dtype`` with PyTorch's threads: the CPU's practical peak."""
    import torch

    a, b = torch.randn(n, n).to(getattr(torch, dtype)), torch.randn(n, n).to(getattr(torch, dtype))
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def sample_peak(fn: Callable[..., float], spec: dict[str, Any],
                between_epochs: Optional[Callable[[int], None]]) -> dict[str, Any]:
    """The matmul peak sampled ``spec["rounds"]`` times, once per turn when taking turns with training runs.

    Sampled between the training runs' epochs, the peak sees the same slow and fast spells of a
    shared machine as they do; its median is what their achieved GFLOP/s are divided by.
    """
    from statistics import median

    seconds, samples = spec.get("seconds", 2.0), []
    for i in range(max(int(spec.get("rounds", 1)), 1)):
        if between_epochs is not None:
            between_epochs(i)
        samples.append(fn(seconds=seconds))
    return {"matmul_gflops": median(samples), "matmul_gflops_samples": samples,
            "matmul_gflops_bf16": fn(seconds=seconds, dtype="bfloat16")}


# kind -> (module, function); importing the module imports its framework.
RUNNERS = {
    "lightning": ("benchmarks.frameworks_lightning", "run_lightning"),
    "pytorch": ("benchmarks.frameworks_torch_loop", "run_pytorch"),
    "keras": ("benchmarks.frameworks_keras", "run_keras"),
    "keras_tflite": ("benchmarks.frameworks_tflite", "convert_keras_native"),
    "bridge_tflite": ("benchmarks.frameworks_tflite", "convert_bridge"),
    "tflite_latency": ("benchmarks.frameworks_tflite", "measure_tflite"),
    "peak": ("benchmarks.frameworks_worker", "matmul_gflops"),
}


def _runner(kind: str):
    """The measurement function of ``kind``."""
    if kind not in RUNNERS:
        raise ValueError(f"unknown measurement kind {kind!r}")
    module, name = RUNNERS[kind]
    return getattr(importlib.import_module(module), name)


def run(spec: dict[str, Any], between_epochs: Optional[Callable[[int], None]] = None,
        first_turn_wait: float = 0.0) -> dict[str, Any]:
    """Run one measurement; ``spec`` is the parsed ``SPEC.json``.

    ``between_epochs(epoch)`` is handed to the training runs (``benchmarks.turns``);
    ``first_turn_wait`` (seconds this process waited for its first turn) is not start-up.
    """
    kind, work = spec["kind"], Path(spec["work"])
    threads = _set_threads(kind, spec["threads"])
    fn = _runner(kind)
    imported_rss = _rss_mb()
    infer = {int(k): int(v) for k, v in spec.get("infer", {}).items()}
    common = {k: spec[k] for k in ("arch", "batch_size", "epochs", "optimizer", "lr", "seed") if k in spec}
    if kind == "lightning":
        result = fn(work, channels_last=spec["channels_last"], infer=infer, between_epochs=between_epochs, **common)
    elif kind == "pytorch":
        result = fn(work, channels_last=spec["channels_last"], infer=infer, save_weights=spec.get("save_weights"),
                    between_epochs=between_epochs, **common)
    elif kind == "keras":
        result = fn(work, infer=infer, between_epochs=between_epochs, **common)
    elif kind == "keras_tflite":
        result = fn(spec["arch"], spec["num_classes"], Path(spec["weights_npz"]), Path(spec["out"]))
    elif kind == "bridge_tflite":
        result = fn(spec["arch"], spec["num_classes"], Path(spec["weights_pt"]), Path(spec["out"]), Path(spec["images_npz"]))
    elif kind == "tflite_latency":
        import numpy as np

        with np.load(spec["images_npz"]) as f:
            images = f["test"][: spec["output_images"]]
        result = fn(spec["models"], images, spec["threads"], spec["invokes"])
    else:
        result = {"import_rss": import_footprint_mb(), **sample_peak(fn, spec, between_epochs)}
    if result.get("first_epoch_start") is not None:
        result["startup_seconds"] = (WALL0 - _process_start_wall()) + (result["first_epoch_start"] - PERF0) \
            - first_turn_wait
    result.pop("first_epoch_start", None)
    result.update({
        "kind": kind,
        "threads": threads,
        "rss_after_import_mb": imported_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pid": os.getpid(),
    })
    return result


def main(argv: list[str]) -> int:
    from common.allocator import tune_malloc
    from common.atomic import write_json_atomic

    from benchmarks.turns import Turns

    turns = Turns()
    t0 = time.perf_counter()
    turns.take()  # start-up runs in this process's first turn (a no-op without a coordinator)
    first_turn_wait = time.perf_counter() - t0
    tune_malloc()  # every framework's process, as `python cli.py` does for a user's runs
    spec = json.loads(Path(argv[0]).read_text())
    write_json_atomic(spec["result"], run(spec, turns.between_epochs, first_turn_wait))
    turns.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
