"""Wall-clock training time, validation and test excluded."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch

from common.atomic import write_json_atomic


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainingTimer(pl.Callback):
    """Measures training time per epoch and per fit, excluding validation.

    The clock runs from the start of each training epoch to its end, and is paused
    while the validation loop runs inside the epoch. Images per second counts every
    training image seen on all processes. On rank 0 the result is logged and, when the
    trainer has a logger, written to ``<log_dir>/timing.json``; it is always in ``.result``.

    Work a LightningModule does for training before the first epoch starts (building the
    frozen-feature cache in ``on_fit_start``) is read from its ``training_setup_seconds``
    attribute (``{name: seconds}``, when it has one) as the first epoch starts: it is counted
    into that epoch, so the total and every time-to-accuracy figure include it, and listed by
    name in ``setup_seconds``.

    Args:
        filename: name of the JSON file written into the run's log directory.
    """

    def __init__(self, filename: str = "timing.json") -> None:
        self.filename = filename
        self.epoch_seconds: list[float] = []
        self.images = 0
        self._t0: Optional[float] = None
        self._val_t0: Optional[float] = None
        self._paused = 0.0
        self._epoch_images = 0
        self.result: dict[str, Any] = {}
        self._restored = False
        self.setup_seconds: dict[str, float] = {}
        self._pending: Optional[float] = None  # setup seconds not yet counted (None: not yet read this fit)

    # -- epoch clock ---------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._restored:  # a resumed fit keeps the history restored from its checkpoint
            self.epoch_seconds, self.images = [], 0
        self._restored = False
        self.setup_seconds, self._pending = {}, None

    def _take_setup_seconds(self, pl_module: pl.LightningModule) -> float:
        """The module's training work before this fit's first epoch (once per fit; 0 afterwards)."""
        if self._pending is None:
            self.setup_seconds = {k: float(v) for k, v in (getattr(pl_module, "training_setup_seconds", None) or {}).items()}
            self._pending = sum(self.setup_seconds.values())
        pending, self._pending = self._pending, 0.0
        return pending

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device)
        self._t0, self._paused, self._epoch_images = time.perf_counter() - self._take_setup_seconds(pl_module), 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._epoch_images += int(batch[0].shape[0])

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._t0 is not None:
            _sync(pl_module.device)
            self._val_t0 = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._val_t0 is not None:
            _sync(pl_module.device)
            self._paused += time.perf_counter() - self._val_t0
            self._val_t0 = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._t0 is None:
            return
        _sync(pl_module.device)
        seconds = time.perf_counter() - self._t0 - self._paused
        self._t0 = None
        # One time for the fit: the slowest process; images summed over processes.
        stats = torch.tensor([seconds, float(self._epoch_images)], dtype=torch.float64)
        seconds = float(trainer.strategy.reduce(stats[:1].clone(), reduce_op="max")) if trainer.world_size > 1 else seconds
        images = float(trainer.strategy.reduce(stats[1:].clone(), reduce_op="sum")) if trainer.world_size > 1 else float(self._epoch_images)
        self.epoch_seconds.append(seconds)
        self.images += int(images)
        pl_module.log("train_epoch_seconds", seconds, on_step=False, on_epoch=True, rank_zero_only=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = sum(self.epoch_seconds)
        self.result = {
            "train_seconds": total,
            "epochs": len(self.epoch_seconds),
            "epoch_seconds": self.epoch_seconds,
            "setup_seconds": dict(self.setup_seconds),
            "images": self.images,
            "images_per_second": self.images / total if total > 0 else 0.0,
            "world_size": trainer.world_size,
            "device": str(pl_module.device),
            "torch_threads": torch.get_num_threads(),
        }
        log_dir = trainer.log_dir if trainer.loggers else None  # a collective under DDP: every rank must ask
        if trainer.is_global_zero and log_dir:  # no logger, no run folder to write into
            write_json_atomic(Path(log_dir) / self.filename, self.result)

    @classmethod
    def epochs_in(cls, checkpoint: dict[str, Any]) -> int:
        """Training epochs recorded by this callback in a checkpoint read as a dict.

        Raises:
            KeyError: the checkpoint holds no timer state.
        """
        states = checkpoint["callbacks"]
        key = next((k for k in states if k == cls.__qualname__ or k.startswith(cls.__qualname__ + "{")), None)
        if key is None:
            raise KeyError(f"no {cls.__qualname__} state in the checkpoint")
        return len(states[key]["epoch_seconds"])

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_seconds": list(self.epoch_seconds), "images": self.images}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch_seconds = list(state_dict.get("epoch_seconds", []))
        self.images = int(state_dict.get("images", 0))
        self._restored = True
