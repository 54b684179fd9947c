"""Frozen-feature cache: a cached fit ends as the uncached one, for every architecture; it switches
itself off (saying why) where it would not be exact; its build time is training time."""
from __future__ import annotations

import logging
from contextlib import nullcontext

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from datamodules import Fruits360DataModule
from lightning_modules.callbacks import TrainingTimer
from lightning_modules.classifier import ImageClassifier
from lightning_modules.feature_cache import MAX_GB_ENV, build
from lightning_modules.lightning_cli import make_cli

# (arch, frozen blocks, builder keywords): dropout in the head where the builder has it, so the
# cached fit must also draw the head's dropout masks from the same random stream.
CASES = [("alexnet", 4, {"dropout": 0.5}), ("alexnet_separable", 2, {}),
         ("mobilenet_v1", 3, {"dropout": 0.5}), ("mobilenet_v2", 3, {})]


def data(root, augment: bool = False) -> Fruits360DataModule:
    return Fruits360DataModule(str(root), grouping="apple_pear_noise", per_class=40, batch_size=16, augment=augment)


def fit(arch: str, freeze: int, kwargs: dict, root, cache: bool, epochs: int = 2, augment: bool = False,
        tweak=None) -> tuple[ImageClassifier, Fruits360DataModule, TrainingTimer]:
    pl.seed_everything(0, verbose=False)
    model = ImageClassifier(arch, num_classes=3, freeze=freeze, arch_kwargs=kwargs, label_smoothing=0.1,
                            feature_cache=cache)
    if tweak is not None:
        tweak(model)
    dm, timer = data(root, augment), TrainingTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    return model, dm, timer


def _predictions(model: ImageClassifier, dm: Fruits360DataModule) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(dm.transform((x, y))[0]).argmax(1) for x, y in dm.batches("test")])


@pytest.mark.slow
@pytest.mark.parametrize("arch,freeze,kwargs", CASES)
def test_a_cached_fit_ends_as_the_uncached_one(arch, freeze, kwargs, tiny_fruits):
    cached, dm, timer = fit(arch, freeze, kwargs, tiny_fruits, cache=True)
    report = cached.feature_cache_report
    assert report.on and report.blocks == cached.net.block_names[:freeze]
    assert report.images == sum(dm.splits[s][0].shape[0] for s in ("train", "val"))
    assert not dm.split_features  # the images are back after the fit (test and predict read images)
    assert timer.result["setup_seconds"]["feature_cache"] == report.seconds > 0
    assert timer.result["epoch_seconds"][0] >= report.seconds  # counted as training time

    plain, dm2, _ = fit(arch, freeze, kwargs, tiny_fruits, cache=False)
    assert plain.feature_cache_report is None
    # same batches and the same dropout masks: the trained weights agree up to float reordering
    for (name, a), b in zip(cached.net.named_parameters(), plain.net.parameters()):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3), name
    agree = (_predictions(cached, dm) == _predictions(plain, dm2)).float().mean()
    assert agree >= 0.995


def test_augmentation_switches_the_cache_off_and_says_why(tiny_fruits, caplog):
    with caplog.at_level(logging.WARNING, logger="orchard.feature_cache"):
        model, dm, _ = fit("alexnet", 4, {}, tiny_fruits, cache=True, epochs=1, augment=True)
    assert not model.feature_cache_report.on and "augment" in model.feature_cache_report.reason
    lines = [r.getMessage() for r in caplog.records if r.name == "orchard.feature_cache"]
    assert lines == [f"feature cache off: {model.feature_cache_report.reason}"] and "\n" not in lines[0]


def test_a_random_layer_in_the_frozen_blocks_switches_the_cache_off(tiny_fruits):
    def add_dropout(model: ImageClassifier) -> None:
        model.net.features.conv2.append(nn.Dropout2d(0.1))

    model, _, timer = fit("alexnet", 3, {}, tiny_fruits, cache=True, epochs=1, tweak=add_dropout)
    report = model.feature_cache_report
    assert not report.on and "conv2.4" in report.reason and "Dropout2d" in report.reason
    assert timer.result["setup_seconds"] == {"feature_cache": 0.0}


def test_a_cache_over_the_memory_limit_stays_off(tiny_fruits, monkeypatch):
    monkeypatch.setenv(MAX_GB_ENV, "1e-6")
    model = ImageClassifier("mobilenet_v2", num_classes=3, freeze=1)
    dm = data(tiny_fruits)
    report = build(model.net.eval(), 1, ["stem"], dm, nullcontext)
    assert not report.on and "over the" in report.reason and report.bytes > 1000
    assert not dm.split_features


def test_no_frozen_blocks_no_cache(tiny_fruits):
    model, dm, timer = fit("alexnet", 0, {}, tiny_fruits, cache=True, epochs=1)
    assert model.feature_cache_report is None and timer.result["setup_seconds"] == {}


def test_freeze_by_hand_on_the_cli_uses_the_cache(tiny_fruits, tmp_path):
    cli = make_cli(["--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                    "--data.grouping", "apple_pear_noise", "--data.per_class", "40", "--data.augment", "false",
                    "--model.freeze", "2", "--trainer.max_epochs", "1", "--trainer.logger", "false",
                    "--trainer.default_root_dir", str(tmp_path)], run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.model.hparams.feature_cache and cli.model.feature_cache_report.on
    assert cli.model.feature_cache_report.blocks == ["conv1", "conv2"]


def test_after_a_failed_fit_the_images_are_served_and_tested_whole(tiny_fruits):
    class Boom(pl.Callback):
        def on_train_batch_end(self, *args) -> None:
            raise RuntimeError("boom")

    pl.seed_everything(0, verbose=False)
    model, dm = ImageClassifier("alexnet", num_classes=3, freeze=4), data(tiny_fruits)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(model, datamodule=dm)
    assert model.feature_cache_report.on and not dm.split_features  # the datamodule gave the images back
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    accuracy = trainer.test(model, datamodule=dm, verbose=False)[0]["test_acc"]
    expected = (_predictions(model, dm) == dm.splits["test"][1]).float().mean()
    assert accuracy == pytest.approx(float(expected))
