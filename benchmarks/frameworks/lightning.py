"""The Lightning side of the benchmark: ``ImageClassifier`` fitted as ``python cli.py fit`` fits it.

The fit goes through :func:`lightning_modules.trainer.fit_stage` with only the data, model and
epoch count set (the rest: ``configs/base.yaml``), so the Trainer has everything a user's run has:
CSV logger with per-step logging, rich progress bar, ``TrainingTimer``, best/last checkpoints,
validation every epoch.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytorch_lightning as pl

from lightning_modules.trainer import StageSettings, fit_stage

from .data import INIT_TORCH_FILE
from .runner import BenchmarkRunner, BetweenEpochs


class FirstEpochClock(pl.Callback):
    """Records when the first training epoch starts (to split start-up from training)."""

    def __init__(self) -> None:
        self.first_epoch_start: Optional[float] = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.first_epoch_start is None:
            self.first_epoch_start = time.perf_counter()


def lightning_settings(work: Path, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float,
                       channels_last: bool, seed: int) -> StageSettings:
    """This measurement's settings (everything else: ``configs/base.yaml``, as under ``python cli.py fit``)."""
    return StageSettings(
        arch=arch, seed=seed, epochs=epochs,
        data_class="benchmarks.frameworks.data.ArrayDataModule",
        data={"path": str(work), "batch_size": batch_size, "seed": seed, "channels_last": channels_last},
        model={"optimizer": optimizer, "lr": lr, "channels_last": channels_last,
               "init_from": str(work / INIT_TORCH_FILE)},
        log_dir=work / "lightning_runs", log_name="fit",
        progress_bar=True,  # the user's rich progress bar and the config's callbacks stay
    )


class EpochStartHook(pl.Callback):
    """Calls ``fn(epoch)`` at each training epoch's start, before ``TrainingTimer`` starts its clock."""

    def __init__(self, fn: Callable[[int], None]) -> None:
        self.fn = fn

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fn(trainer.current_epoch)


def run_lightning(work: Path, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float,
                  channels_last: bool, seed: int, infer: dict[int, int],
                  between_epochs: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
    """Fit through ``fit_stage`` (orchard's LightningCLI), then time ``trainer.predict`` at each batch size in ``infer``.

    Args:
        infer: ``{batch_size: images}`` for the inference measurements.
        between_epochs: called with the epoch number before its clock starts (``benchmarks.frameworks.turns``).
    """
    clock = FirstEpochClock()
    first = [EpochStartHook(between_epochs)] if between_epochs is not None else []  # before the timer's clock
    settings = lightning_settings(work, arch, batch_size, epochs, optimizer, lr, channels_last, seed)
    fit = fit_stage(None, settings, first_callbacks=[*first, clock], test=False)
    trainer, model, data = fit.trainer, fit.model, fit.datamodule
    result: dict[str, Any] = {
        "train_seconds": fit.train_seconds,
        "epochs": fit.epochs,
        "epoch_seconds": fit.epoch_seconds,
        "setup_seconds": fit.setup_seconds,
        "images": round(fit.images_per_second * fit.train_seconds),
        "images_per_second": fit.images_per_second,
        "device": fit.device,
        "first_epoch_start": clock.first_epoch_start,
        "val_acc": fit.metrics.get("val_acc", float("nan")),
        "trainer": {
            "callbacks": [type(c).__name__ for c in trainer.callbacks],
            "logger": type(trainer.logger).__name__ if trainer.logger else None,
            "log_every_n_steps": trainer.log_every_n_steps,
            "log_dir": str(fit.log_dir) if fit.log_dir else None,
        },
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
