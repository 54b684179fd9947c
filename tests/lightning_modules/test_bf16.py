"""bf16 mixed precision on the CPU: orchard's module, channels-last memory and the whole-batch data path
train under ``--trainer.precision bf16-mixed`` (convolutions and dense layers in bfloat16, weights and
optimizer in float32), with and without the frozen-feature cache."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from datamodules import Fruits360DataModule
from lightning_modules.classifier import ImageClassifier


class EpochLosses(pl.Callback):
    """The mean training loss of every epoch, and the dtypes the convolutions computed in."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.conv_dtypes: set[torch.dtype] = set()

    def on_fit_start(self, trainer, pl_module) -> None:
        for m in pl_module.net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(lambda _m, _i, out: self.conv_dtypes.add(out.dtype))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._batch_losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batch_losses.append(float(outputs["loss"]))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.losses.append(sum(self._batch_losses) / len(self._batch_losses))


@pytest.mark.slow
@pytest.mark.parametrize("freeze", [None, 2])
def test_bf16_mixed_training_on_cpu_lowers_the_loss(tiny_fruits, freeze):
    pl.seed_everything(0, verbose=False)
    model = ImageClassifier("alexnet", num_classes=3, freeze=freeze, lr=1e-3)
    data = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=40, batch_size=16, augment=False)
    record = EpochLosses()
    trainer = pl.Trainer(max_epochs=6, precision="bf16-mixed", accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0, callbacks=[record])
    trainer.fit(model, datamodule=data)
    assert trainer.precision == "bf16-mixed" and torch.bfloat16 in record.conv_dtypes
    assert all(torch.isfinite(torch.tensor(record.losses)))
    assert record.losses[-1] < 0.8 * record.losses[0], record.losses  # two batches, six passes: it learns them
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32
    if freeze:
        assert model.feature_cache_report.on
    # the trained net still runs in float32 outside autocast (export, tests)
    x = data.transform.images(data.splits["test"][0][:4])
    assert model.eval()(x).dtype == torch.float32
