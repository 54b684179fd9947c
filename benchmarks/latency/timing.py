"""Per-call latency the way the paper measured it (warm-up, then N timed calls, each rounded to
0.01 ms), with the figures TFLite's own ``benchmark_model`` prints: init, first call, percentiles.

Only the inference call itself sits between the two ``time.perf_counter_ns()`` reads of a timed
call (``interpreter.invoke()`` for TFLite, ``session.run`` for ONNX Runtime, ``net(x)`` for
PyTorch); inputs are set once before the loop. ``init_ms`` is the runtime's set-up (TFLite:
interpreter creation + ``allocate_tensors``), ``first_ms`` the first call, then ``warmup`` untimed
calls, then the timed ones.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch

RESOLUTION_MS = 0.01  # the paper's rounding


def round_ms(ns: int) -> float:
    """Nanoseconds -> milliseconds rounded to 0.01 ms."""
    return round(ns / 1e6, 2)


def elapsed_ms(t0_ns: int) -> float:
    """Milliseconds since ``t0_ns`` (``time.perf_counter_ns()``), rounded to 0.01 ms."""
    return round_ms(time.perf_counter_ns() - t0_ns)


def time_calls(call: Callable[[], object], runs: int = 100, warmup: int = 10) -> list[float]:
    """``runs`` timings of ``call()`` in ms (0.01 ms resolution) after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        call()
        out.append(elapsed_ms(t0))
    return out


def time_first_and_runs(call: Callable[[], object], runs: int, warmup: int) -> dict:
    """``{"first_ms", "warmup", "runs_ms"}``: the first call timed on its own, then :func:`time_calls`."""
    t0 = time.perf_counter_ns()
    call()
    first = elapsed_ms(t0)
    return {"first_ms": first, "warmup": warmup, "runs_ms": time_calls(call, runs, warmup)}


def summarise(runs_ms: list[float]) -> dict[str, float]:
    """mean, std (population), p50, p90, p99 (linear interpolation), min and max of the rounded runs, in ms."""
    a = np.asarray(runs_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    stats = {"mean_ms": a.mean(), "std_ms": a.std(), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99,
             "min_ms": a.min(), "max_ms": a.max()}
    return {k: round(float(v), 3) for k, v in stats.items()}


def time_tflite(path, image_nhwc: np.ndarray, threads: int, runs: int, warmup: int) -> dict:
    """Create the interpreter with ``threads`` threads (``init_ms``), set the input once, time ``invoke()``."""
    from export.tflite_runtime import TFLiteModel

    t0 = time.perf_counter_ns()
    model = TFLiteModel(path, threads)
    init = elapsed_ms(t0)
    model.set_input(image_nhwc)
    return {"init_ms": init, **time_first_and_runs(model.invoke, runs, warmup)}


def time_onnxruntime(path, image_nchw: np.ndarray, threads: int, runs: int, warmup: int) -> dict:
    """One ONNX Runtime session with ``threads`` intra-op threads (``init_ms``: its creation); times ``session.run``."""
    from export.onnx_runtime import onnx_session

    t0 = time.perf_counter_ns()
    session = onnx_session(path, threads)
    init = elapsed_ms(t0)
    feed = {session.get_inputs()[0].name: image_nchw}
    return {"init_ms": init, **time_first_and_runs(lambda: session.run(None, feed), runs, warmup)}


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the old count after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_pytorch(net: torch.nn.Module, image_nchw: np.ndarray, threads: int, runs: int, warmup: int) -> dict:
    """PyTorch eager, batch 1, ``inference_mode``, ``threads`` intra-op threads; times ``net(x)``.

    ``init_ms`` is ``None``: the network is already built in memory (its load time is the checkpoint's).
    """
    x = torch.from_numpy(image_nchw)
    net = net.eval()
    with torch_threads(threads), torch.inference_mode():
        return {"init_ms": None, **time_first_and_runs(lambda: net(x), runs, warmup)}
