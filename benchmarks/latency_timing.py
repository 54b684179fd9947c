"""Per-call latency the way the paper measured it: warm-up, then N timed calls, each rounded to 0.01 ms.

Only the inference call itself sits between the two ``time.perf_counter_ns()`` reads
(``interpreter.invoke()`` for TFLite, ``session.run`` for ONNX Runtime, ``net(x)`` for
PyTorch); inputs are set once before the loop.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch

RESOLUTION_MS = 0.01  # the paper's rounding


def round_ms(ns: int) -> float:
    """Nanoseconds -> milliseconds rounded to 0.01 ms."""
    return round(ns / 1e6, 2)


def time_calls(call: Callable[[], object], runs: int = 100, warmup: int = 10) -> list[float]:
    """``runs`` timings of ``call()`` in ms (0.01 ms resolution) after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        call()
        out.append(round_ms(time.perf_counter_ns() - t0))
    return out


def summarise(runs_ms: list[float]) -> dict[str, float]:
    """mean, median, p90, std (population), min and max of the rounded runs, in ms."""
    a = np.asarray(runs_ms, dtype=np.float64)
    stats = {"mean_ms": a.mean(), "median_ms": np.median(a), "p90_ms": np.percentile(a, 90),
             "std_ms": a.std(), "min_ms": a.min(), "max_ms": a.max()}
    return {k: round(float(v), 3) for k, v in stats.items()}


def time_tflite(path, image_nhwc: np.ndarray, threads: int, runs: int, warmup: int) -> list[float]:
    """Load the model once with ``threads`` threads, set the input once, time ``invoke()`` alone."""
    from export.tflite_runtime import TFLiteModel

    model = TFLiteModel(path, threads)
    model.set_input(image_nhwc)
    return time_calls(model.invoke, runs, warmup)


def time_onnxruntime(path, image_nchw: np.ndarray, threads: int, runs: int, warmup: int) -> list[float]:
    """One ONNX Runtime session with ``threads`` intra-op threads; times ``session.run``."""
    from export.onnx_runtime import onnx_session

    session = onnx_session(path, threads)
    feed = {session.get_inputs()[0].name: image_nchw}
    return time_calls(lambda: session.run(None, feed), runs, warmup)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the old count after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_pytorch(net: torch.nn.Module, image_nchw: np.ndarray, threads: int, runs: int, warmup: int) -> list[float]:
    """PyTorch eager, batch 1, ``inference_mode``, ``threads`` intra-op threads; times ``net(x)``."""
    x = torch.from_numpy(image_nchw)
    net = net.eval()
    with torch_threads(threads), torch.inference_mode():
        return time_calls(lambda: net(x), runs, warmup)
