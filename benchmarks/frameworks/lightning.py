"""The Lightning side of the benchmark: ``ImageClassifier`` + the Trainer ``python cli.py fit`` builds.

The Trainer comes from orchard's own ``make_cli`` with only the data, model and epoch count
given on its command line, so it has everything a user's run has: CSV logger with per-step
logging, rich progress bar, ``TrainingTimer``, best/last checkpoints, validation every epoch.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytorch_lightning as pl

from lightning_modules.callbacks import TrainingTimer
from lightning_modules.lightning_cli import make_cli

from .data import INIT_TORCH_FILE
from .runner import BenchmarkRunner, BetweenEpochs


class FirstEpochClock(pl.Callback):
    """Records when the first training epoch starts (to split start-up from training)."""

    def __init__(self) -> None:
        self.first_epoch_start: Optional[float] = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.first_epoch_start is None:
            self.first_epoch_start = time.perf_counter()


def lightning_cli_args(work: Path, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float,
                       channels_last: bool, seed: int) -> list[str]:
    """The ``python cli.py fit`` arguments of this measurement (everything else: orchard's defaults)."""
    logger = {"class_path": "pytorch_lightning.loggers.CSVLogger",
              "init_args": {"save_dir": str(work / "lightning_runs"), "name": "fit"}}
    return [
        "--seed_everything", str(seed),
        "--model.arch", arch,
        "--model.optimizer", optimizer,
        "--model.lr", str(lr),
        "--model.channels_last", str(channels_last).lower(),
        "--model.init_from", str(work / INIT_TORCH_FILE),
        "--data.class_path", "benchmarks.frameworks.data.ArrayDataModule",
        "--data.init_args.path", str(work),
        "--data.init_args.batch_size", str(batch_size),
        "--data.init_args.seed", str(seed),
        "--data.init_args.channels_last", str(channels_last).lower(),
        "--trainer.max_epochs", str(epochs),
        "--trainer.logger", json.dumps(logger),
    ]


class BetweenEpochs(pl.Callback):
    """Calls ``fn(epoch)`` at each training epoch's start, before ``TrainingTimer`` starts its clock."""

    def __init__(self, fn: Callable[[int], None]) -> None:
        self.fn = fn

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fn(trainer.current_epoch)


def run_lightning(work: Path, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float,
                  channels_last: bool, seed: int, infer: dict[int, int],
                  between_epochs: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
    """Fit through orchard's LightningCLI, then time ``trainer.predict`` at each batch size in ``infer``.

    Args:
        infer: ``{batch_size: images}`` for the inference measurements.
        between_epochs: called with the epoch number before its clock starts (``benchmarks.frameworks.turns``).
    """
    cli = make_cli(lightning_cli_args(work, arch, batch_size, epochs, optimizer, lr, channels_last, seed), run=False)
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    clock = FirstEpochClock()
    trainer.callbacks.insert(0, clock)
    if between_epochs is not None:
        trainer.callbacks.insert(0, BetweenEpochs(between_epochs))  # before the timer's clock starts
    trainer.fit(model, datamodule=data)
    timer = next(c for c in trainer.callbacks if isinstance(c, TrainingTimer))
    result: dict[str, Any] = dict(timer.result)
    result["first_epoch_start"] = clock.first_epoch_start
    result["val_acc"] = float(trainer.callback_metrics.get("val_acc", float("nan")))
    result["trainer"] = {
        "callbacks": [type(c).__name__ for c in trainer.callbacks],
        "logger": type(trainer.logger).__name__ if trainer.logger else None,
        "log_every_n_steps": trainer.log_every_n_steps,
        "log_dir": trainer.log_dir,
    }
    result["inference_images_per_second"] = {}
    available = int(data.splits["test"][0].shape[0])
    for infer_batch, n_images in infer.items():
        n_images = min(n_images, available)
        data.predict_batch_size, data.predict_images = infer_batch, min(infer_batch * 2, n_images)
        trainer.predict(model, datamodule=data)  # warm-up
        data.predict_images = n_images
        t0 = time.perf_counter()
        trainer.predict(model, datamodule=data)
        result["inference_images_per_second"][str(infer_batch)] = n_images / (time.perf_counter() - t0)
    return result


class LightningRunner(BenchmarkRunner):
    """``kind: lightning``: :func:`run_lightning` with the spec's settings."""

    kind = "lightning"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        return run_lightning(self.work, channels_last=self.spec["channels_last"], infer=self.infer(),
                             between_epochs=between_epochs, **self.training_settings())
