"""Callbacks the tests hand to LightningCLI by class path (``tests.helpers.callbacks.NAME``)."""
from __future__ import annotations

import pytorch_lightning as pl

from common.errors import OrchardError


class FailOnTrainStart(pl.Callback):
    """Stops a fit with an expected error after the run folder would have been made."""

    def on_train_start(self, trainer, pl_module) -> None:
        raise OrchardError("stopped on purpose")
