"""`python cli.py fit/test` through the real LightningCLI, in-process and as a subprocess."""
import json
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lightning_modules import ImageClassifier, TrainingTimer
from lightning_modules.lightning_cli import make_cli
from tests.conftest import REPO, run_cli
from tests.helpers.cli import run_main

CONFIG = str(REPO / "configs" / "scratch_fruits3.yaml")


def fit_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", "--config", CONFIG, "--data.init_args.root", str(root), "--data.init_args.per_class", "40",
            "--trainer.logger.init_args.save_dir", str(out), "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks", "[]", *extra]


def test_fast_dev_run_fit_through_lightning_cli(tiny_fruits, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cli = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.fast_dev_run", "true", "--model.arch", "mobilenet_v2"))
    assert cli.trainer.state.finished
    assert not list(work.iterdir())  # no checkpoints/last.ckpt (Lightning 2.6 writes one at train end)
    assert isinstance(cli.model, ImageClassifier) and cli.model.hparams.arch == "mobilenet_v2"
    assert cli.model.hparams.num_classes == 3  # linked from the datamodule
    assert cli.trainer.global_step == 1


def test_print_config_lists_the_model_data_and_timer(tiny_fruits, capsys):
    with pytest.raises(SystemExit) as exit_:
        make_cli(["fit", "--config", CONFIG, "--print_config"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "arch: alexnet" in out and "Fruits360DataModule" in out and "timer:" in out and "seed_everything: 0" in out


def test_fit_writes_timing_checkpoints_and_config_then_test_reads_the_checkpoint(tiny_fruits, tmp_path, capsys):
    cli = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3"))
    log_dir = Path(cli.trainer.log_dir)
    timing = json.loads((log_dir / "timing.json").read_text())
    assert timing["epochs"] == 2 and len(timing["epoch_seconds"]) == 2
    assert timing["train_seconds"] == pytest.approx(sum(timing["epoch_seconds"]))
    assert timing["images"] == 2 * 3 * 32 and timing["images_per_second"] > 0
    assert (log_dir / "checkpoints" / "best.ckpt").is_file() and (log_dir / "checkpoints" / "last.ckpt").is_file()
    assert "seed_everything: 0" in (log_dir / "config.yaml").read_text()
    out = capsys.readouterr().out
    assert f"run dir:  {log_dir}" in out and "train_seconds" in out

    test = make_cli(["test", "--config", str(log_dir / "config.yaml"), "--ckpt_path", str(log_dir / "checkpoints" / "best.ckpt"),
                     "--trainer.logger.init_args.save_dir", str(tmp_path / "test")])
    metrics = test.trainer.callback_metrics
    assert 0.0 <= float(metrics["test_acc"]) <= 1.0 and "test_loss" in metrics


def test_resume_with_ckpt_path_continues_the_run(tiny_fruits, tmp_path):
    first = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"))
    last = Path(first.trainer.log_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2",
                                "--ckpt_path", str(last)))
    assert resumed.trainer.current_epoch == 2 and resumed.trainer.global_step == 4
    timing = json.loads((Path(resumed.trainer.log_dir) / "timing.json").read_text())
    assert timing["epochs"] == 2  # the timer's history travels in the checkpoint


class SlowValidation(pl.Callback):
    """Adds a known delay to every validation batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slept = 0.0

    def on_validation_batch_end(self, *args, **kwargs) -> None:
        time.sleep(self.seconds)
        self.slept += self.seconds


class StepLosses(pl.Callback):
    """Records every training step's loss and batch size, per epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[tuple[float, int]]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.epochs[-1].append((float(outputs["loss"]), int(batch[1].shape[0])))


class StepAccuracy(pl.Callback):
    """Counts, per epoch, the training images the module classifies right with the weights each step starts from.

    Without dropout, a train-mode forward at batch start (BatchNorm on the batch's statistics) gives
    the logits the training step computes next.
    """

    def __init__(self) -> None:
        self.epochs: list[list[int]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([0, 0])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        with torch.no_grad():
            self.epochs[-1][0] += int((pl_module(batch[0]).argmax(dim=1) == batch[1]).sum())
        self.epochs[-1][1] += int(batch[1].shape[0])


def test_training_accuracy_is_logged_per_epoch_over_all_its_images(tiny_fruits, tmp_path):
    import csv

    from datamodules import Fruits360DataModule
    from pytorch_lightning.loggers import CSVLogger

    pl.seed_everything(0, verbose=False)
    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=30, batch_size=16, augment=False)
    counts = StepAccuracy()
    trainer = pl.Trainer(max_epochs=4, num_sanity_val_steps=0, callbacks=[counts], logger=CSVLogger(tmp_path),
                         enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(ImageClassifier(arch="alexnet", num_classes=3), datamodule=dm)
    rows = list(csv.DictReader(open(Path(trainer.log_dir) / "metrics.csv")))
    logged = [float(r["train_acc"]) for r in rows if r.get("train_acc")]
    expected = [right / seen for right, seen in counts.epochs]
    assert logged == pytest.approx(expected, abs=1e-6)
    assert len(set(expected)) > 1  # the weights learn, so a value carried over between epochs would show


def test_training_loss_is_logged_on_logging_steps_and_as_the_epoch_mean(tiny_fruits, tmp_path):
    import csv

    from datamodules import Fruits360DataModule
    from pytorch_lightning.loggers import CSVLogger

    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=30, batch_size=16)
    losses = StepLosses()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=3, log_every_n_steps=2, num_sanity_val_steps=0,
                         callbacks=[losses], logger=CSVLogger(tmp_path), enable_progress_bar=False,
                         enable_checkpointing=False)
    trainer.fit(ImageClassifier(arch="mobilenet_v2", num_classes=3), datamodule=dm)
    rows = list(csv.DictReader(open(Path(trainer.log_dir) / "metrics.csv")))
    step_rows = {int(r["step"]): float(r["train_loss_step"]) for r in rows if r.get("train_loss_step")}
    flat = [loss for epoch in losses.epochs for loss, _ in epoch]
    assert sorted(step_rows) == [1, 3, 5]  # every 2nd of the 6 steps, 0-based
    for step, value in step_rows.items():
        assert value == pytest.approx(flat[step], rel=1e-5)
    epoch_means = [float(r["train_loss_epoch"]) for r in rows if r.get("train_loss_epoch")]
    expected = [sum(loss * n for loss, n in epoch) / sum(n for _, n in epoch) for epoch in losses.epochs]
    assert epoch_means == pytest.approx(expected, rel=1e-5)  # reset between epochs
    assert all(0.0 <= float(r["train_acc"]) <= 1.0 for r in rows if r.get("train_acc"))


def test_timer_excludes_validation_time(tiny_fruits, tmp_path):
    from datamodules import Fruits360DataModule

    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=30, batch_size=16)
    timer, slow = TrainingTimer(), SlowValidation(0.5)
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=2, num_sanity_val_steps=0,
                         callbacks=[timer, slow], logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, default_root_dir=tmp_path)
    start = time.perf_counter()
    trainer.fit(ImageClassifier(arch="mobilenet_v2", num_classes=3), datamodule=dm)
    wall = time.perf_counter() - start
    assert timer.result["epochs"] == 2 and slow.slept >= 1.0
    assert timer.result["train_seconds"] < wall - slow.slept
    assert timer.result["images"] == 2 * 2 * 16


# -- bad input, as a user meets it: one line, exit code 2 --------------------------------
# through ``cli.main`` in this process (what ``python cli.py`` runs and exits with); the same cases
# as a real process are in tests/test_bad_inputs.py's table.

def _error_line(code: int, err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2, err[-2000:]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


def test_unknown_architecture_exits_2(tiny_fruits, tmp_path, capsys):
    code, _, err = run_main(capsys, *fit_args(tiny_fruits, tmp_path, "--model.arch", "resnet50",
                                              "--trainer.fast_dev_run", "true"))
    assert "unknown architecture 'resnet50'" in _error_line(code, err)


def test_missing_data_root_exits_2(tmp_path, capsys):
    code, _, err = run_main(capsys, "fit", "--config", CONFIG, "--data.init_args.root", str(tmp_path / "absent"),
                            "--trainer.fast_dev_run", "true")
    assert f"dataset root {tmp_path / 'absent'} does not exist" in _error_line(code, err)


def test_models_json_lists_every_architecture(capsys):
    code, out, _ = run_main(capsys, "models", "--json", "--num-classes", "5")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"alexnet", "alexnet_separable", "mobilenet_v1", "mobilenet_v2"}
    assert rows["alexnet"]["trainable_params"] == 952_835 + 2 * 513
    assert rows["mobilenet_v2"]["output_shape"] == [1, 5]


def test_unknown_subcommand_exits_2(capsys):
    code, _, err = run_main(capsys, "frobnicate")
    assert code == 2 and "unknown subcommand 'frobnicate'" in err


def test_label_smoothing_applies_to_the_training_loss():
    torch.manual_seed(0)
    model = ImageClassifier(arch="mobilenet_v2", num_classes=3, label_smoothing=0.2)
    model.trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False)
    x, y = torch.randn(4, 3, 100, 100), torch.tensor([0, 1, 2, 0])
    model.eval()  # same batch statistics for both forward passes
    with torch.no_grad():  # confident logits, where smoothing changes the loss
        model.net.get_submodule(model.net.classifier_name).bias.copy_(torch.tensor([4.0, 0.0, -4.0]))
    loss = model.training_step((x, y), 0)
    logits = model(x)
    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.2)), rel=1e-5)
    assert float(loss) != pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-3)


class GradientProbe(pl.Callback):
    """Counts training steps, and reads the gradients the optimizer stepped with."""

    def __init__(self) -> None:
        self.steps = 0
        self.saw_gradients = []
        self.norms = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.saw_gradients.append(all(p.grad is not None for p in pl_module.net.parameters()))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.steps += 1
        grads = [p.grad for p in pl_module.net.parameters()]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))


def test_each_step_runs_the_closure_once_before_the_optimizer_and_still_clips(tiny_fruits, tmp_path):
    """``optimizer_step`` calls the closure itself, then ``step()``: hooks and clipping must still see the gradients."""
    from datamodules import Fruits360DataModule

    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=30, batch_size=16)
    probe = GradientProbe()
    model = ImageClassifier(arch="mobilenet_v2", num_classes=3)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    trainer = pl.Trainer(max_steps=3, gradient_clip_val=1e-3, num_sanity_val_steps=0, limit_val_batches=0,
                         callbacks=[probe], logger=False, enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 3 and probe.steps == 3
    assert probe.saw_gradients == [True, True, True]
    assert all(n <= 1e-3 * 1.01 for n in probe.norms)  # clipped to the norm asked for
    assert any(not torch.equal(before[k], v) for k, v in model.net.state_dict().items())


def test_enable_progress_bar_false_turns_the_default_bar_off(tiny_fruits, tmp_path):
    # no --trainer.callbacks []: the CLI's default ThrottledRichProgressBar is in play
    cli_ = make_cli(["fit", "--config", CONFIG, "--data.init_args.root", str(tiny_fruits), "--data.init_args.per_class", "40",
                     "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.fast_dev_run", "true",
                     "--trainer.enable_progress_bar", "false"])
    assert cli_.trainer.state.finished and cli_.trainer.progress_bar_callback is None


def test_a_failed_fit_leaves_no_empty_run_folder(tiny_fruits, tmp_path, capsys):
    import cli

    args = fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "1")
    args[args.index("--trainer.callbacks") + 1] = '[{"class_path": "tests.helpers.callbacks.FailOnTrainStart"}]'
    assert cli.main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: stopped on purpose"
    assert not list(tmp_path.rglob("version_*"))  # config.yaml / hparams.yaml were written, then the folder removed


def test_model_settings_a_ckpt_path_overrides_are_named_in_one_warning(tiny_fruits, tmp_path, capsys):
    import cli

    first = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1",
                              "--model.arch", "mobilenet_v2"))
    best = Path(first.trainer.checkpoint_callback.best_model_path)
    capsys.readouterr()
    assert cli.main(["test", "--config", CONFIG, "--data.init_args.root", str(tiny_fruits), "--data.init_args.per_class", "40",
                     "--trainer.logger.init_args.save_dir", str(tmp_path / "test"), "--trainer.enable_progress_bar", "false",
                     "--model.arch", "alexnet", "--ckpt_path", str(best)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "arch='mobilenet_v2' (not 'alexnet')" in warnings[0] and "not used" in warnings[0]


def test_the_run_is_named_after_its_config_and_only_fit_saves_a_config(tiny_fruits, tmp_path, monkeypatch):
    import cli

    fit = make_cli(["fit", "--config", CONFIG, "--data.init_args.root", str(tiny_fruits), "--data.init_args.per_class", "40",
                    "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.fast_dev_run", "false",
                    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.enable_progress_bar",
                    "false"])
    log_dir = Path(fit.trainer.log_dir)
    assert log_dir.parent.name == "scratch_fruits3" and (log_dir / "config.yaml").is_file()
    saved = (log_dir / "config.yaml").read_text()
    assert "name: scratch_fruits3" in saved and "seed_everything: 0" in saved  # base.yaml under the stage's file
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli.main(["test", "--config", str(log_dir / "config.yaml"), "--ckpt_path", str(log_dir / "checkpoints" / "last.ckpt"),
                     "--trainer.enable_progress_bar", "false", "--trainer.logger.init_args.save_dir",
                     str(tmp_path / "test")]) == 0
    assert not list(work.iterdir())  # nothing in the working folder
    assert not list((tmp_path / "test").rglob("config.yaml"))  # test adds no config of its own


def test_a_fit_without_a_logger_writes_no_config_into_the_working_folder(tiny_fruits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = make_cli(["fit", "--config", CONFIG, "--data.init_args.root", str(tiny_fruits), "--data.init_args.per_class",
                    "40", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
                    "--trainer.enable_checkpointing", "false", "--trainer.callbacks", "[]",
                    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
                    "--model.arch", "mobilenet_v2"])  # not fast_dev_run, which saves no config anyway
    assert cli.trainer.state.finished
    assert not list(tmp_path.iterdir())  # Lightning's SaveConfigCallback would leave config.yaml here


NOISE = ("litlogger", "deprecated", "LightningCLI's args", "┏", "GPU available", "Seed set to")


@pytest.mark.slow
def test_a_fit_prints_no_third_party_noise_unless_verbose(tiny_fruits, tmp_path):
    """The same short fit as two ``python cli.py`` processes started side by side: quiet, and ``--verbose``."""
    import os
    import subprocess
    import sys

    def start(name: str, *flags: str, env: dict) -> subprocess.Popen:
        args = [*flags, "fit", "--config", CONFIG, "--data.init_args.root", str(tiny_fruits),
                "--data.init_args.per_class", "40", "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2",
                "--trainer.logger.init_args.save_dir", str(tmp_path / name)]
        return subprocess.Popen([sys.executable, str(REPO / "cli.py"), *args], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "COLUMNS": "120", "ORCHARD_CACHE": str(tmp_path / f"cache-{name}"),
                                     **env})

    quiet = start("quiet", env={"ORCHARD_VERBOSE": "0"})
    loud = start("loud", "--verbose", env={})
    output, loud_output = quiet.communicate(timeout=300)[0], loud.communicate(timeout=300)[0]
    assert quiet.returncode == 0, output[-2000:]
    assert [n for n in NOISE if n in output] == [] and "fit done:" in output
    assert loud.returncode == 0 and "┏" in loud_output  # the model table, on request


def test_enable_checkpointing_false_fits_without_the_default_checkpoints(tiny_fruits, tmp_path):
    cli = make_cli(fit_args(tiny_fruits, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
                            "--trainer.enable_checkpointing", "false"))
    assert cli.trainer.state.finished and cli.trainer.checkpoint_callback is None
    log_dir = Path(cli.trainer.log_dir)
    assert (log_dir / "timing.json").is_file() and not list(log_dir.rglob("*.ckpt"))
