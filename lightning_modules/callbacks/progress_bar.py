"""Lightning's rich progress bar, redrawn from the training thread at most a few times a second."""
from __future__ import annotations

import time
from typing import Any, Optional

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress.rich_progress import RichProgressBarTheme


class ThrottledRichProgressBar(RichProgressBar):
    """``RichProgressBar`` without its background refresh thread.

    Lightning's bar redraws from a thread of its own. Each redraw is pure Python and holds
    the GIL, so the training thread, which needs the GIL between every op, waits for it
    while the other compute thread idles. Measured on a 2-core CPU (alexnet, batch 64, 21
    interleaved process pairs), a Lightning epoch took 4-8 % longer with that bar than with
    none. This bar draws in the training thread instead, at most ``refresh_rate`` times a
    second (~1 ms a draw); training batches in between only advance a counter. It looks
    the same and takes the same arguments.

    Args:
        refresh_rate: redraws per second at most (``0`` hides the bar).
        leave: keep each finished epoch's bar on screen.
        theme: the bar's styles.
        console_kwargs: arguments for rich's ``Console``.
    """

    def __init__(
        self,
        refresh_rate: int = 2,
        leave: bool = False,
        theme: RichProgressBarTheme = RichProgressBarTheme(),
        console_kwargs: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave, theme=theme, console_kwargs=console_kwargs)
        self._last_draw = float("-inf")

    def _init_progress(self, trainer: "pl.Trainer") -> None:
        super()._init_progress(trainer)
        live = self.progress.live if self.progress is not None else None
        thread = getattr(live, "_refresh_thread", None)
        if thread is not None:  # stop Lightning's refresh thread; refresh() draws instead
            thread.stop()
            thread.join()
            live._refresh_thread, live.auto_refresh = None, False

    def _due(self) -> bool:
        return time.monotonic() - self._last_draw >= 1.0 / max(self.refresh_rate, 1)

    def refresh(self, hard: bool = False) -> None:
        if self.progress is not None and (hard or self._due()):
            self.progress.refresh()
            self._last_draw = time.monotonic()

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if self._due() or batch_idx + 1 >= self.total_train_batches:
            self._update_metrics(trainer, pl_module)  # before the draw in super() (it would be one behind)
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
