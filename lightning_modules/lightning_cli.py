"""orchard's LightningCLI: the classifier, any datamodule, timing and checkpoints wired in."""
from __future__ import annotations

import json
import logging
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
import yaml
from jsonargparse import ArgumentError
from pytorch_lightning import Callback, LightningDataModule
from pytorch_lightning.callbacks import Checkpoint, ProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from common.cuda_check import drop_nvml_check_without_nvml
from common.errors import UsageError
from common.output import verbose

from .callbacks import FrozenHeapDuringFit, RNGStateCheckpoint, TrainingTimer
from .callbacks.last_checkpoint import BestAndLastCheckpoint
from .checkpoint_io import SAFE_GLOBALS, CheckpointError, checkpoint_hparams, checkpoint_state_dict, read_checkpoint
from .classifier import ImageClassifier
from .init_from import describe_mismatch

BASE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "base.yaml"
DEFAULT_RUN_NAME = "fit"  # the logger's name when no --config names the run

# model settings that are not compared with a checkpoint's (linked from the data, or not the model's shape)
UNCOMPARED_HPARAMS = {"num_classes", "init_from", "_instantiator", "_class_path"}


def one_line(e: BaseException) -> str:
    """jsonargparse's multi-line message in one line: what key, why, and the value given."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if len(lines) <= 2:
        return " ".join(lines)
    given = next((line for line in lines if line.startswith("Given value:")), "")
    return " ".join(dict.fromkeys([lines[0], lines[1], given]).keys()).strip()


class OrchardCLI(LightningCLI):
    """LightningCLI with ``data.num_classes`` linked into the model, a timer and checkpoints (with RNG states).

    Bad input ends in one :class:`~common.errors.OrchardError` line instead of a traceback or a
    usage dump: unparsable arguments (:class:`UsageError`), a ``--ckpt_path`` that is missing,
    truncated, not a checkpoint, refused (checkpoints are read as data, never code) or made for
    another class count (:class:`CheckpointError`). ``--model.*`` settings that a ``--ckpt_path``
    overrides (Lightning builds the checkpoint's model) are named in one warning line. A run
    folder (``version_N``) that a failed subcommand created and left without checkpoints or
    metrics is removed.
    """

    _checkpoint: Optional[dict[str, Any]] = None

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("exit_on_error", False)  # parse errors raise; parse_arguments makes them one line
        return super().init_parser(**kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        try:
            with warnings.catch_warnings():
                # orchard hands over argv itself (cli.py's own, or the arguments fit_stage built)
                warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
                super().parse_arguments(parser, args)
        except ArgumentError as e:
            raise UsageError(one_line(e)) from None

    def _parse_ckpt_path(self) -> None:
        """Read ``--ckpt_path`` as data before Lightning does; warn about ``--model.*`` it overrides."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or ckpt_path in {"last", "best", "hpc", "registry"} or "://" in str(ckpt_path):
            return super()._parse_ckpt_path()
        self._checkpoint = read_checkpoint(ckpt_path)
        ignored = self._overridden_model_settings(subcommand, checkpoint_hparams(self._checkpoint))
        if ignored:
            print(f"warning: --ckpt_path {ckpt_path} holds a model with {ignored}; Lightning builds the checkpoint's "
                  "model, so these --model settings are not used", file=sys.stderr)
        try:
            with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
                super()._parse_ckpt_path()
        except ArgumentError as e:
            raise CheckpointError(f"checkpoint {ckpt_path}: its hyper-parameters do not fit the model's arguments "
                                  f"({one_line(e)})") from None

    def _overridden_model_settings(self, subcommand: str, hparams: dict[str, Any]) -> str:
        """``"arch='mobilenet_v2' (not 'alexnet'), ..."`` for model settings the checkpoint replaces."""
        model = self.config[subcommand].get("model")
        if model is None or not hparams:
            return ""
        given = model.as_dict() if hasattr(model, "as_dict") else dict(model)
        given = given.get("init_args", given) if "class_path" in given else given
        diffs = [f"{k}={v!r} (not {given[k]!r})" for k, v in hparams.items()
                 if k not in UNCOMPARED_HPARAMS and k in given and given[k] != v]
        return ", ".join(diffs)

    def after_instantiate_classes(self) -> None:
        """A ``--ckpt_path`` whose weights do not fit the model built (another class count) stops here, in one line."""
        super().after_instantiate_classes()
        if self._checkpoint is None or not isinstance(self.model, ImageClassifier):
            return
        state = checkpoint_state_dict(self._checkpoint)
        own = self.model.net.state_dict()
        problem = describe_mismatch(state, own)
        if problem:
            path = self.config[self.subcommand].get("ckpt_path")
            raise CheckpointError(f"checkpoint {path} does not fit the model for this data ({problem}); --ckpt_path "
                                  "resumes or evaluates that very model: use --model.init_from to start from its weights")

    def before_instantiate_classes(self) -> None:
        """A CSV logger without a name takes the last ``--config`` file's (``stage1_cifar100``), else ``fit``."""
        config = self.config.get(str(self.subcommand), self.config)
        logger = config.get("trainer.logger")
        init_args = logger.get("init_args") if hasattr(logger, "get") else None
        if init_args is None or "name" not in init_args or init_args.name is not None:
            return
        files = config.get("config") or []
        init_args.name = Path(str(files[-1])).stem if files else DEFAULT_RUN_NAME

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Any:
        """``--trainer.enable_progress_bar false`` drops the default bar, ``--trainer.enable_checkpointing false``
        the default checkpoints (Lightning refuses either flag beside such a callback); only ``fit`` saves
        ``config.yaml``, and only into a run folder (``--trainer.logger false`` without ``default_root_dir`` has
        none: Lightning would write it into the working folder)."""
        for flag, kind in (("enable_progress_bar", ProgressBar), ("enable_checkpointing", Checkpoint)):
            if config.get(flag) is False:
                config["callbacks"] = [c for c in config.get("callbacks") or [] if not isinstance(c, kind)]
                callbacks = [c for c in callbacks if not isinstance(c, kind)]
        save_config = self.save_config_callback
        no_run_folder = config.get("logger") is False and not config.get("default_root_dir")
        if self.subcommand not in (None, "fit") or no_run_folder:
            self.save_config_callback = None  # a run's config.yaml is its fit's; test/validate/predict add none
        try:
            return super()._instantiate_trainer(config, callbacks)
        finally:
            self.save_config_callback = save_config

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        if "weights_only" in self._subcommand_method_arguments[subcommand] and kwargs.get("weights_only") is None:
            kwargs["weights_only"] = True  # Lightning loads --ckpt_path as data too
        return kwargs

    def _run_subcommand(self, subcommand: str) -> None:
        fresh = self._fresh_log_dir()
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            _drop_empty_run(fresh)
            raise

    def _fresh_log_dir(self) -> Optional[Path]:
        """The run folder this subcommand will create (``None`` without a logger, or when it exists already)."""
        if not self.trainer.loggers:
            return None
        log_dir = Path(self.trainer.log_dir or ".")
        return None if log_dir.exists() else log_dir

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(TrainingTimer, "timer")
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")  # last.ckpt = the last epoch
        parser.add_lightning_class_args(RNGStateCheckpoint, "rng_state")  # a resumed fit drops out as the first did
        parser.add_lightning_class_args(FrozenHeapDuringFit, "gc_freeze")  # no full collection walks the imports mid-fit
        parser.set_defaults({
            "checkpoint.monitor": "val_acc",
            "checkpoint.mode": "max",
            "checkpoint.filename": "best",
            "checkpoint.save_last": True,
            "checkpoint.auto_insert_metric_name": False,
            # Lightning's rich bar, drawn from the training thread twice a second (see progress_bar.py).
            "trainer.callbacks": [{"class_path": "lightning_modules.callbacks.ThrottledRichProgressBar",
                                   "init_args": {"refresh_rate": 2}}],
        })

    @property
    def timer(self) -> TrainingTimer:
        """The run's :class:`TrainingTimer` (built from ``--timer.*``)."""
        return self._get(self.config_init, "timer")

    @property
    def checkpoint(self) -> Optional[BestAndLastCheckpoint]:
        """The run's best/last checkpoint callback (built from ``--checkpoint.*``)."""
        return self._get(self.config_init, "checkpoint")

    def before_fit(self) -> None:
        data = self.datamodule
        if getattr(data, "synthetic", False):
            print(f"note: training on SYNTHETIC data from {getattr(data, 'root', '?')} "
                  "(procedurally generated, not Fruits-360)")

    def after_fit(self) -> None:
        trainer = self.trainer
        log_dir = Path(trainer.log_dir or ".")  # a collective under DDP: every rank must ask
        if not trainer.is_global_zero:
            return
        timer, ckpt = self.timer, self.checkpoint
        best = getattr(ckpt, "best_model_path", "") if ckpt else ""
        summary = {"log_dir": str(log_dir), "best_checkpoint": best}
        if timer and timer.result:
            summary.update({k: timer.result[k] for k in ("train_seconds", "epochs", "images_per_second")})
        wrote = bool(trainer.loggers) and not trainer.fast_dev_run  # fast_dev_run writes no run folder
        if not wrote:
            summary["log_dir"] = None
        print(f"fit done: {json.dumps(summary)}")
        if best and (log_dir / "config.yaml").is_file():
            print(f"test it:  python cli.py test --config {log_dir / 'config.yaml'} --ckpt_path {best}")
        print(f"run dir:  {log_dir}" if wrote else "run dir:  none (no logger, or fast_dev_run)")

    def after_test(self) -> None:
        if self.trainer.is_global_zero:
            metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("test_")}
            print(f"test done: {json.dumps(metrics)}")


def base_config() -> dict[str, Any]:
    """``configs/base.yaml``: the seed and Trainer defaults under every run."""
    return yaml.safe_load(BASE_CONFIG.read_text()) or {}


class _DropMessages(logging.Filter):
    """Drops log records whose message contains one of ``needles``."""

    def __init__(self, *needles: str) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in str(record.msg) for n in self.needles)


# Lightning's cloud-logging tip, its device inventory (a CPU run says so in timing.json), its
# seed and end-of-fit notices (the config and "fit done" say both)
_TIP_FILTER = _DropMessages("litlogger", "GPU available:", "TPU available:", "HPU available:", "`Trainer.fit` stopped:")
_SEED_FILTER = _DropMessages("Seed set to")


def hide_third_party_noise() -> None:
    """Hide the known third-party messages that say nothing about the run (shown with ``--verbose``).

    Lightning's cloud-logging tip, device inventory, seed and end-of-fit notices on every Trainer, torch's ``LeafSpec`` deprecation that
    Lightning's own pytree helper triggers, and the checkpoint callback's note that an evaluated
    checkpoint lies in another run folder.
    """
    rank_zero_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    seed_log = logging.getLogger("lightning_fabric.utilities.seed")
    if verbose():
        rank_zero_log.removeFilter(_TIP_FILTER)
        seed_log.removeFilter(_SEED_FILTER)
        return
    rank_zero_log.addFilter(_TIP_FILTER)  # adding the same filter twice keeps one
    seed_log.addFilter(_SEED_FILTER)
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated", category=FutureWarning)
    # test/validate --ckpt_path in another run folder: the checkpoint's top-k bookkeeping is not needed there
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from")


def make_cli(args: list[str] | None = None, run: bool = True, **kwargs) -> OrchardCLI:
    """Build the CLI (``run=False`` parses and instantiates without running a subcommand).

    ``configs/base.yaml`` gives the defaults; ``trainer_defaults`` entries replace its ``trainer`` ones.
    Lightning's model-summary table is off unless ``--verbose`` (``--trainer.enable_model_summary`` sets it).
    """
    hide_third_party_noise()
    drop_nvml_check_without_nvml()  # no failed NVML load in every optimizer step
    base = base_config()
    trainer_defaults = {**base.get("trainer", {}), **kwargs.pop("trainer_defaults", {})}
    trainer_defaults.setdefault("enable_model_summary", verbose())
    return OrchardCLI(
        ImageClassifier,
        LightningDataModule,
        subclass_mode_data=True,
        seed_everything_default=base.get("seed_everything", 0),
        trainer_defaults=trainer_defaults,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
        **kwargs,
    )


def _drop_empty_run(log_dir: Optional[Path]) -> None:
    """Remove a run folder a failed subcommand created if it holds no checkpoint and no metrics rows."""
    if log_dir is None or not log_dir.is_dir() or any(log_dir.rglob("*.ckpt")):
        return
    metrics = log_dir / "metrics.csv"
    if metrics.is_file() and len(metrics.read_text().splitlines()) > 1:
        return
    shutil.rmtree(log_dir, ignore_errors=True)


def run_lightning_cli(argv: list[str]) -> int:
    """``cli.py fit|validate|test|predict ...``; bad input raises an :class:`~common.errors.OrchardError`."""
    make_cli(argv)
    return 0
