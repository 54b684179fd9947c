"""``fit_stage``: typed settings -> one fitted and tested stage, as the studies call it."""
from pathlib import Path

import pytest

from lightning_modules.trainer import StageSettings, cli_args, finished_epochs, fit_stage
from tests.conftest import REPO

CONFIG = REPO / "configs" / "scratch_fruits3.yaml"


def settings(root: Path, out: Path, **kw) -> StageSettings:
    base = dict(arch="alexnet", seed=1, epochs=2, data={"root": str(root), "per_class": 40},
                log_dir=out, log_name="stage", log_version="fit", extra_args=["--trainer.limit_train_batches", "2"])
    return StageSettings(**{**base, **kw})


def test_cli_args_config_first_then_the_typed_settings():
    args = cli_args([CONFIG, "b.yaml"], StageSettings(arch="mobilenet_v2", seed=3, data={"per_class": 5, "grouping": None},
                                                     model={"init_from": "x.ckpt", "freeze": [1, 2]}, extra_args=["--x", "1"]))
    assert args[:4] == ["--config", str(CONFIG), "--config", "b.yaml"]
    pairs = dict(zip(args[4::2], args[5::2]))
    assert pairs["--seed_everything"] == "3" and pairs["--model.arch"] == "mobilenet_v2"
    assert pairs["--data.init_args.grouping"] == "null" and pairs["--model.freeze"] == "[1, 2]"
    assert pairs["--trainer.enable_model_summary"] == "false" and args[-2:] == ["--x", "1"]


def test_fit_stage_returns_times_metrics_and_checkpoints(tiny_fruits, tmp_path):
    fit = fit_stage(CONFIG, settings(tiny_fruits, tmp_path))
    assert fit.epochs == 2 and len(fit.epoch_seconds) == 2
    assert fit.train_seconds == pytest.approx(sum(fit.epoch_seconds)) and fit.images_per_second > 0
    assert 0.0 <= fit.metrics["test_acc"] <= 1.0 and "val_acc" in fit.metrics and "test_loss" in fit.metrics
    assert fit.log_dir == (tmp_path / "stage" / "fit").resolve()
    assert fit.best_checkpoint.name == "best.ckpt" and fit.best_checkpoint.is_file()
    assert fit.last_checkpoint.name == "last.ckpt" and finished_epochs(fit.last_checkpoint) == 2
    assert (fit.log_dir / "config.yaml").is_file() and fit.best_score is not None
    assert fit.model.hparams.num_classes == 3


def test_fit_stage_resumes_and_runs_without_a_config_file(tiny_fruits, tmp_path):
    first = fit_stage(None, settings(tiny_fruits, tmp_path, epochs=1, data_class="datamodules.Fruits360DataModule",
                                     data={"root": str(tiny_fruits), "grouping": "apple_pear_noise", "per_class": 40}),
                      test=False)
    assert "test_acc" not in first.metrics and first.epochs == 1
    resumed = fit_stage(None, settings(tiny_fruits, tmp_path, epochs=2, data_class="datamodules.Fruits360DataModule",
                                       data={"root": str(tiny_fruits), "grouping": "apple_pear_noise", "per_class": 40}),
                        ckpt_path=first.last_checkpoint, test=False)
    assert resumed.epochs == 2 and resumed.epoch_seconds[0] == first.epoch_seconds[0]


def test_finished_epochs_of_a_file_that_is_no_checkpoint(tmp_path):
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert finished_epochs(bad) is None
