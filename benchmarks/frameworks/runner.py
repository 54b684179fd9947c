"""The one runner interface of ``benchmark frameworks``: every measurement kind is a :class:`BenchmarkRunner`.

A worker process (``python -m benchmarks.frameworks.worker SPEC.json``) looks its kind up with
:func:`runner_for`, builds the runner from the spec, calls :meth:`BenchmarkRunner.setup` (threads
fixed before any computation, so every framework computes with the same count) and then
:meth:`BenchmarkRunner.run`, whose dict is the measurement. Importing a runner's module imports
its framework, so :func:`runner_for` imports only the one asked for.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

BetweenEpochs = Optional[Callable[[int], None]]
KINDS = ("lightning", "pytorch", "keras", "keras_tflite", "bridge_tflite", "tflite_latency", "peak")


class BenchmarkRunner(ABC):
    """One measurement kind: ``setup()`` fixes the threads, ``run()`` measures and returns the result.

    Attributes:
        kind: the spec's ``kind``.
        threads_of: whose thread pool ``setup`` sizes: ``torch``, ``tensorflow`` or ``tflite``.
        spec: the parsed ``SPEC.json``.
        work: the benchmark's work folder (arrays, initial weights).
    """

    kind: ClassVar[str]
    threads_of: ClassVar[str] = "torch"

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.work = Path(spec["work"])

    def setup(self) -> dict[str, Any]:
        """Fix this process's thread count for the runner's framework; returns what was set."""
        threads = int(self.spec["threads"])
        if self.threads_of == "tensorflow":
            from tf_models import set_tf_threads

            set_tf_threads(threads)
            return {"tensorflow_intra_op": threads, "tensorflow_inter_op": threads}
        if self.threads_of == "torch":
            import torch

            torch.set_num_threads(threads)
            return {"torch": torch.get_num_threads()}
        return {"tflite_interpreter": threads}

    @abstractmethod
    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        """Measure; ``between_epochs(epoch)`` (``benchmarks.frameworks.turns``) runs before each epoch's clock."""

    def training_settings(self) -> dict[str, Any]:
        """The spec's settings every training runner takes (architecture, batch size, epochs, optimizer, ...)."""
        keys = ("arch", "batch_size", "epochs", "optimizer", "lr", "seed")
        return {k: self.spec[k] for k in keys if k in self.spec}

    def infer(self) -> dict[int, int]:
        """``{batch_size: images}`` for the inference measurements."""
        return {int(k): int(v) for k, v in self.spec.get("infer", {}).items()}


def runner_for(kind: str) -> type[BenchmarkRunner]:
    """The runner class of ``kind`` (importing only its framework).

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind == "lightning":
        from .lightning import LightningRunner

        return LightningRunner
    if kind == "pytorch":
        from .torch_loop import TorchLoopRunner

        return TorchLoopRunner
    if kind == "keras":
        from .keras import KerasRunner

        return KerasRunner
    if kind in {"keras_tflite", "bridge_tflite", "tflite_latency"}:
        from .tflite import TFLITE_RUNNERS

        return TFLITE_RUNNERS[kind]
    if kind == "peak":
        from .worker import PeakRunner

        return PeakRunner
    raise ValueError(f"unknown measurement kind {kind!r}; one of {', '.join(KINDS)}")
