"""orchard's LightningCLI: the classifier, any datamodule, timing and checkpoints wired in."""
from __future__ import annotations

import json
from pathlib import Path

from pytorch_lightning import LightningDataModule
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from .callbacks import RNGStateCheckpoint, TrainingTimer
from .callbacks.last_checkpoint import BestAndLastCheckpoint
from .classifier import ImageClassifier


class OrchardCLI(LightningCLI):
    """LightningCLI with ``data.num_classes`` linked into the model, a timer and checkpoints (with RNG states)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(TrainingTimer, "timer")
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")  # last.ckpt = the last epoch
        parser.add_lightning_class_args(RNGStateCheckpoint, "rng_state")  # a resumed fit drops out as the first did
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
        timer = next((c for c in trainer.callbacks if isinstance(c, TrainingTimer)), None)
        ckpt = trainer.checkpoint_callback
        best = getattr(ckpt, "best_model_path", "") if ckpt else ""
        summary = {"log_dir": str(log_dir), "best_checkpoint": best}
        if timer and timer.result:
            summary.update({k: timer.result[k] for k in ("train_seconds", "epochs", "images_per_second")})
        print(f"fit done: {json.dumps(summary)}")
        if best:
            print(f"test it:  python cli.py test --config {log_dir / 'config.yaml'} --ckpt_path {best}")
        print(f"run dir:  {log_dir}")

    def after_test(self) -> None:
        if self.trainer.is_global_zero:
            metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("test_")}
            print(f"test done: {json.dumps(metrics)}")


def make_cli(args: list[str] | None = None, run: bool = True, **kwargs) -> OrchardCLI:
    """Build the CLI (``run=False`` parses and instantiates without running a subcommand)."""
    trainer_defaults = {
        "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "fit"}},
        "log_every_n_steps": 10,
    }
    trainer_defaults.update(kwargs.pop("trainer_defaults", {}))
    return OrchardCLI(
        ImageClassifier,
        LightningDataModule,
        subclass_mode_data=True,
        seed_everything_default=0,
        trainer_defaults=trainer_defaults,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
        **kwargs,
    )


def run_lightning_cli(argv: list[str]) -> int:
    make_cli(argv)
    return 0
