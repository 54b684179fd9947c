"""A ``ModelCheckpoint`` whose ``last.ckpt`` really holds the last epoch."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Optional

import pytorch_lightning as pl
from lightning_fabric.utilities.types import _PATH
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger

from ..checkpoint_writer import BackgroundReplaceCheckpointIO


class BestAndLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also writes ``last.ckpt`` after every epoch.

    Since Lightning 2.6, ``save_last=True`` writes ``last.ckpt`` only when a top-k checkpoint
    is written at the same step, so with ``monitor`` set it is a copy of the *best* epoch:
    ``--ckpt_path last.ckpt`` would rewind a run, and the "last" weights would not be the
    final ones. This subclass writes ``last.ckpt`` at every checkpoint point where the
    top-k logic saved nothing (Lightning's own arguments and behaviour otherwise), and writes nothing
    under ``fast_dev_run``. With orchard's :class:`BackgroundReplaceCheckpointIO`, its saves leave
    the rename over the previous file to a worker thread, unless something reads the file at
    once: a logger that acts on saved checkpoints (``after_save_checkpoint``: W&B, MLflow ...
    upload them) or ``save_last="link"`` (a link or copy of the file just saved).
    """

    def _deferring_writer(self, trainer: pl.Trainer) -> Optional[BackgroundReplaceCheckpointIO]:
        writer = trainer.strategy.checkpoint_io
        if not isinstance(writer, BackgroundReplaceCheckpointIO) or self.save_last == "link":
            return None
        if any(type(lg).after_save_checkpoint is not Logger.after_save_checkpoint for lg in trainer.loggers):
            return None
        return writer

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        writer = self._deferring_writer(trainer)
        with writer.deferred() if writer is not None else nullcontext():
            super()._save_checkpoint(trainer, filepath)

    def file_exists(self, filepath: _PATH, trainer: pl.Trainer) -> bool:
        """Also true for a file whose rename is under way (names that would repeat get a version suffix)."""
        writer = trainer.strategy.checkpoint_io
        if isinstance(writer, BackgroundReplaceCheckpointIO) and writer.renaming(filepath):
            return trainer.strategy.reduce_boolean_decision(True, all=False)  # the same collective as super()'s
        return super().file_exists(filepath, trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run:  # Lightning 2.6 saves last.ckpt here even then, into ./checkpoints
            return
        super().on_train_end(trainer, pl_module)

    def _save_last_if_missed(self, trainer: pl.Trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
