"""A ``ModelCheckpoint`` whose ``last.ckpt`` really holds the last epoch."""
from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from ..checkpoint_writer import BackgroundReplaceCheckpointIO


class BestAndLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also writes ``last.ckpt`` after every epoch.

    Since Lightning 2.6, ``save_last=True`` writes ``last.ckpt`` only when a top-k checkpoint
    is written at the same step, so with ``monitor`` set it is a copy of the *best* epoch:
    ``--ckpt_path last.ckpt`` would rewind a run, and the "last" weights would not be the
    final ones. This subclass writes ``last.ckpt`` at every checkpoint point where the
    top-k logic saved nothing (Lightning's own arguments and behaviour otherwise), and writes nothing
    under ``fast_dev_run``. With orchard's :class:`BackgroundReplaceCheckpointIO`, its saves leave
    the rename over the previous file to a worker thread.
    """

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        writer = trainer.strategy.checkpoint_io
        if not isinstance(writer, BackgroundReplaceCheckpointIO):
            super()._save_checkpoint(trainer, filepath)
            return
        with writer.deferred():
            super()._save_checkpoint(trainer, filepath)

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
