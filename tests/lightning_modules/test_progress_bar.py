"""ThrottledRichProgressBar: no refresh thread, draws from the training thread at most refresh_rate times a second."""
import threading
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks.progress.rich_progress import _RefreshThread

from datamodules import Fruits360DataModule
from lightning_modules import ImageClassifier
from lightning_modules.callbacks.progress_bar import ThrottledRichProgressBar
from lightning_modules.lightning_cli import make_cli
from tests.conftest import REPO

CONFIG = str(REPO / "configs" / "scratch_fruits3.yaml")


class DrawProbe(pl.Callback):
    """Counts the bar's real draws and checks, on every training batch, which threads are running."""

    def __init__(self, bar: ThrottledRichProgressBar) -> None:
        self.bar, self.draws, self.refresh_threads = bar, 0, 0
        self.completed_at_epoch_end: list[float] = []
        self.fit_seconds = 0.0

    def on_train_start(self, trainer, pl_module) -> None:  # after the bar's own on_train_start
        draw = self.bar.progress.refresh

        def counting_draw() -> None:
            self.draws += 1
            draw()

        self.bar.progress.refresh = counting_draw
        self.t0 = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.refresh_threads = max(self.refresh_threads,
                                   sum(isinstance(t, _RefreshThread) and t.is_alive() for t in threading.enumerate()))
        time.sleep(0.02)  # batches far shorter than the redraw interval

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.completed_at_epoch_end.append(self.bar.train_progress_bar.completed)

    def on_train_end(self, trainer, pl_module) -> None:
        self.fit_seconds = time.monotonic() - self.t0


def test_bar_draws_from_the_training_thread_at_most_refresh_rate_times_a_second(tiny_fruits, tmp_path):
    bar = ThrottledRichProgressBar(refresh_rate=2)
    probe = DrawProbe(bar)
    data = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=40, batch_size=8)
    model = ImageClassifier(arch="mobilenet_v2", num_classes=3)
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, callbacks=[bar, probe],
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=data)
    batches = trainer.num_training_batches
    assert batches >= 8 and probe.fit_seconds >= batches * 2 * 0.02
    assert probe.refresh_threads == 0  # Lightning's RichProgressBar runs one all through training
    # Timed draws (2 a second) plus each epoch's last batch and its end, the validation bars' ends.
    assert 1 <= probe.draws <= 2 * probe.fit_seconds + 2 * 6
    assert probe.draws < 2 * batches  # batches in between only advance the counter
    assert probe.completed_at_epoch_end == [batches, batches]  # the last batch always reaches the bar


def test_cli_trains_with_the_throttled_bar_by_default(tiny_fruits):
    cli = make_cli(["--config", CONFIG, "--data.init_args.root", str(tiny_fruits)], run=False)
    bars = [c for c in cli.trainer.callbacks if isinstance(c, pl.callbacks.ProgressBar)]
    assert [type(b) for b in bars] == [ThrottledRichProgressBar] and bars[0].refresh_rate == 2
