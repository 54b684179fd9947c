"""FrozenHeapDuringFit: the objects alive at fit start are frozen for the fit and collectable again after it."""
from __future__ import annotations

import gc

import pytest
import pytorch_lightning as pl

from datamodules import Fruits360DataModule
from lightning_modules import ImageClassifier
from lightning_modules.callbacks import FrozenHeapDuringFit
from lightning_modules.lightning_cli import make_cli


class FreezeProbe(pl.Callback):
    """Records ``gc.get_freeze_count()`` at every training epoch start; raises in ``boom_at`` if given."""

    def __init__(self, boom_at: int = -1) -> None:
        self.counts: list[int] = []
        self.boom_at = boom_at

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.counts.append(gc.get_freeze_count())
        if trainer.current_epoch == self.boom_at:
            raise RuntimeError("boom")


def fit(tiny_fruits, *callbacks: pl.Callback, epochs: int = 2) -> None:
    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=10, batch_size=8)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=list(callbacks))
    trainer.fit(ImageClassifier("alexnet", num_classes=3), datamodule=dm)


@pytest.fixture(autouse=True)
def no_frozen_objects():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_frozen_during_the_fit_and_unfrozen_after(tiny_fruits):
    probe = FreezeProbe()
    fit(tiny_fruits, FrozenHeapDuringFit(), probe)
    assert len(probe.counts) == 2 and all(c > 1000 for c in probe.counts)  # the imports' objects, not a handful
    assert gc.get_freeze_count() == 0


def test_unfrozen_after_a_failing_fit(tiny_fruits):
    probe = FreezeProbe(boom_at=1)
    with pytest.raises(RuntimeError, match="boom"):
        fit(tiny_fruits, FrozenHeapDuringFit(), probe)
    assert probe.counts[0] > 1000 and gc.get_freeze_count() == 0


def test_off_or_frozen_by_someone_else_it_changes_nothing(tiny_fruits):
    probe = FreezeProbe()
    fit(tiny_fruits, FrozenHeapDuringFit(enabled=False), probe, epochs=1)
    assert probe.counts == [0]
    gc.freeze()
    theirs = gc.get_freeze_count()
    fit(tiny_fruits, FrozenHeapDuringFit(), epochs=1)
    assert gc.get_freeze_count() > 0.9 * theirs > 0  # their freeze is not undone (a few frozen objects may be freed)


def test_every_cli_fit_has_it(tiny_fruits, tmp_path):
    cli = make_cli(["--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                    "--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path)], run=False)
    assert any(isinstance(c, FrozenHeapDuringFit) and c.enabled for c in cli.trainer.callbacks)
