"""The typed training entry point: one stage fitted (and tested) through orchard's LightningCLI.

``fit_stage(configs, StageSettings(...))`` is the one place that turns typed settings into the
LightningCLI arguments a user would type after ``python cli.py fit``; the studies and benchmarks
call it instead of building argument lists of their own, and the tests call it directly. The
run's figures come back as a :class:`FitResult`, read from the callbacks the CLI built (the
timer and the checkpoint callback), never from a checkpoint's key layout.
"""
from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import pytorch_lightning as pl

from common.errors import UsageError
from common.output import verbose

from .callbacks import TrainingTimer
from .checkpoint_io import read_checkpoint
from .lightning_cli import make_cli

PathLike = Union[str, Path]

# Warnings a study run expects; the study's own display says what happens instead.
EXPECTED_WARNINGS = (
    r"Found \d+ module\(s\) in eval mode",  # frozen blocks are in eval mode on purpose
    r".*does not have many workers.*",  # whole in-memory batches, no DataLoader workers to add
    r"Checkpoint directory .* exists and is not empty",
    r"Experiment logs directory .* exists and is not empty",
    r".*sync_dist=True.*",
    r"The number of training batches .* is smaller than the logging interval",
    r".*configure_optimizers` will be overridden",  # asked for: --optimizer/--lr_scheduler in extra_args
)
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch")


@dataclass
class StageSettings:
    """What a stage changes on top of its config files (``None``/empty: the config's value).

    Attributes:
        arch: ``--model.arch``.
        seed: ``--seed_everything`` (weight initialisation; the data seed is a data setting).
        epochs: ``--trainer.max_epochs``.
        data_class: ``--data.class_path`` (needed when no config file names the datamodule).
        data: ``--data.init_args.<key>`` settings, in order.
        model: other ``--model.<key>`` settings (``init_from``, ``lr``, ...), in order.
        log_dir, log_name, log_version: where the CSV logger puts the run folder
            (``<log_dir>/<log_name>/<log_version>``).
        progress_bar: Lightning's progress bar (off: also no callbacks from the config).
        model_summary: Lightning's model-summary table.
        extra_args: further LightningCLI arguments, appended last (they win).
    """

    arch: Optional[str] = None
    seed: Optional[int] = None
    epochs: Optional[int] = None
    data_class: Optional[str] = None
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    log_dir: Optional[PathLike] = None
    log_name: Optional[str] = None
    log_version: Optional[Union[str, int]] = None
    progress_bar: bool = False
    model_summary: bool = False
    extra_args: list[str] = field(default_factory=list)


@dataclass
class FitResult:
    """What one fitted stage produced.

    Attributes:
        train_seconds: training time (validation excluded; set-up such as the feature cache included).
        epochs: training epochs, those before a resume included.
        epoch_seconds: training time of each epoch.
        images_per_second: training images per second.
        setup_seconds: training work before the first epoch, by name (inside ``train_seconds``).
        device: the device the model trained on.
        metrics: ``val_*`` after the last epoch and ``test_*`` (when tested), as floats.
        best_checkpoint, last_checkpoint: the checkpoint callback's files (``None`` when none was written).
        best_score: the monitored metric of the best checkpoint.
        log_dir: the run folder (``config.yaml``, ``metrics.csv``, ``timing.json``, ``checkpoints/``).
        feature_cache: the frozen-feature cache's report (``None`` when the model has none).
        args: the LightningCLI arguments the stage ran with.
        trainer, model, datamodule: the objects the CLI built (for further measurements).
    """

    train_seconds: float
    epochs: int
    epoch_seconds: list[float]
    images_per_second: float
    setup_seconds: dict[str, float]
    device: Optional[str]
    metrics: dict[str, float]
    best_checkpoint: Optional[Path]
    last_checkpoint: Optional[Path]
    best_score: Optional[float]
    log_dir: Optional[Path]
    feature_cache: Optional[dict[str, Any]]
    args: list[str]
    trainer: pl.Trainer = field(repr=False)
    model: pl.LightningModule = field(repr=False)
    datamodule: pl.LightningDataModule = field(repr=False)


def _value(value: Any) -> str:
    """A setting as LightningCLI parses it from the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _configs(config: Union[None, PathLike, Sequence[PathLike]]) -> list[PathLike]:
    if config is None:
        return []
    return [config] if isinstance(config, (str, Path)) else list(config)


def cli_args(config: Union[None, PathLike, Sequence[PathLike]], overrides: StageSettings) -> list[str]:
    """The ``python cli.py fit`` arguments (without ``fit``) of ``config`` files + ``overrides``.

    Config files come first, in order (later ones override earlier ones), then the typed settings.
    """
    s = overrides
    args: list[str] = []
    for path in _configs(config):
        args += ["--config", str(path)]
    if s.seed is not None:
        args += ["--seed_everything", str(s.seed)]
    if s.arch is not None:
        args += ["--model.arch", s.arch]
    if s.epochs is not None:
        args += ["--trainer.max_epochs", str(s.epochs)]
    if s.data_class is not None:
        args += ["--data.class_path", s.data_class]
    for key, value in s.data.items():
        args += [f"--data.init_args.{key}", _value(value)]
    for key, value in s.model.items():
        args += [f"--model.{key}", _value(value)]
    for key, value in (("save_dir", str(Path(s.log_dir).resolve()) if s.log_dir is not None else None),
                       ("name", s.log_name), ("version", s.log_version)):
        if value is not None:
            args += [f"--trainer.logger.init_args.{key}", str(value)]
    if not s.progress_bar:
        args += ["--trainer.enable_progress_bar", "false", "--trainer.callbacks", "[]"]
    if not s.model_summary:
        args += ["--trainer.enable_model_summary", "false"]
    return args + list(s.extra_args)


def gpu_args(gpus: float) -> list[str]:
    """Trainer arguments for a study run that reserves ``gpus`` GPUs (0: none; up to 1: one GPU, perhaps shared).

    A study run trains in the study's own process or in a Ray worker, where neither of Lightning's
    multi-GPU launchers works: ``ddp`` starts the process's command line again per device, and
    ``ddp_spawn`` leaves the timer's figures and the last checkpoint in the spawned processes. One
    fit over several GPUs is ``python cli.py fit --trainer.devices N --trainer.strategy ddp``.
    """
    if not gpus:
        return []
    if gpus > 1:
        raise UsageError(f"--gpus-per-run {gpus:g}: a study run trains on at most one GPU (a fraction shares one); "
                         "for one fit over several GPUs use `python cli.py fit --trainer.devices N --trainer.strategy ddp`")
    return ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's banners, tips and the warnings a stage expects hidden (unless ``--verbose``)."""
    if verbose():
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in EXPECTED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def fit_stage(config: Union[None, PathLike, Sequence[PathLike]], overrides: StageSettings, *,
              callbacks: Sequence[pl.Callback] = (), first_callbacks: Sequence[pl.Callback] = (),
              ckpt_path: Optional[PathLike] = None, test: bool = True,
              trainer_defaults: Optional[dict[str, Any]] = None) -> FitResult:
    """Fit one stage through orchard's LightningCLI (as ``python cli.py fit`` would) and test it.

    Args:
        config: config file(s) (``--config``), later ones overriding earlier ones; ``None`` for none.
        overrides: the stage's typed settings on top of the config files.
        callbacks: added after the CLI's own (timer, checkpoints, ...).
        first_callbacks: added before the CLI's own (their hooks run before the timer's).
        ckpt_path: a checkpoint to resume the fit from.
        test: run the test split after the fit (its ``test_*`` metrics join :attr:`FitResult.metrics`).
        trainer_defaults: Trainer defaults below the config files (``make_cli``'s).

    Raises:
        OrchardError: bad settings or files (one line, as on the command line).
    """
    args = cli_args(config, overrides)
    with quiet_lightning():
        cli = make_cli(args, run=False, **({"trainer_defaults": trainer_defaults} if trainer_defaults else {}))
        trainer, model, data = cli.trainer, cli.model, cli.datamodule
        trainer.callbacks[:0] = list(first_callbacks)
        trainer.callbacks.extend(callbacks)
        trainer.fit(model, datamodule=data, ckpt_path=str(ckpt_path) if ckpt_path else None)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
        if test:
            tested = trainer.test(model, datamodule=data, verbose=False)[0]
            metrics.update({k: float(v) for k, v in tested.items() if k.startswith("test_")})
    timing = cli.timer.result
    ckpt = cli.checkpoint
    report = getattr(model, "feature_cache_report", None)
    score = ckpt.best_model_score if ckpt is not None else None
    return FitResult(
        train_seconds=float(timing.get("train_seconds", 0.0)),
        epochs=int(timing.get("epochs", 0)),
        epoch_seconds=list(timing.get("epoch_seconds", [])),
        images_per_second=float(timing.get("images_per_second", 0.0)),
        setup_seconds=dict(timing.get("setup_seconds", {})),
        device=timing.get("device"),
        metrics=metrics,
        best_checkpoint=Path(ckpt.best_model_path) if ckpt is not None and ckpt.best_model_path else None,
        last_checkpoint=Path(ckpt.last_model_path) if ckpt is not None and ckpt.last_model_path else None,
        best_score=float(score) if score is not None else None,
        log_dir=Path(trainer.log_dir) if trainer.loggers and trainer.log_dir else None,
        feature_cache=report.as_dict() if report else None,
        args=args,
        trainer=trainer,
        model=model,
        datamodule=data,
    )


def finished_epochs(checkpoint: PathLike) -> Optional[int]:
    """Training epochs a checkpoint holds (its timer's own record); ``None`` when it cannot be read or resumed."""
    try:
        return TrainingTimer.epochs_in(read_checkpoint(checkpoint))  # as data: a crafted file runs no code
    except Exception:  # noqa: BLE001 - any failure means the checkpoint cannot be resumed from
        return None
