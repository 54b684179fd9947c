"""The thin LightningModule around any registered architecture."""
from __future__ import annotations

import logging
import math
from typing import Any, Literal, Optional, Union

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from common.errors import UsageError

from .architectures import build_model, trainable_params
from .feature_cache import CacheReport
from .feature_cache import build as build_feature_cache
from .feature_cache import describe as describe_feature_cache
from .freezing import freeze_blocks, frozen_prefix_length, hold_in_eval, resolve_frozen_blocks
from .init_from import load_weights
from .optimizers import OptimizerName, build_optimizer

log = logging.getLogger("orchard.feature_cache")
FULL_PRECISION = {"32-true", "64-true"}  # no gradient scaler between backward and step


def _check_settings(num_classes: int, lr: float, weight_decay: float, label_smoothing: float) -> None:
    """Refuse settings the optimizer or the loss would reject later with a traceback (one line, exit 2)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise UsageError(f"--model.num_classes must be a whole number of at least 1, got {num_classes!r}")
    if not (isinstance(lr, (int, float)) and lr >= 0 and math.isfinite(lr)):
        raise UsageError(f"--model.lr must be 0 or more, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0 and math.isfinite(weight_decay)):
        raise UsageError(f"--model.weight_decay must be 0 or more, got {weight_decay!r}")
    if not (isinstance(label_smoothing, (int, float)) and 0 <= label_smoothing <= 1):
        raise UsageError(f"--model.label_smoothing must be between 0 and 1, got {label_smoothing!r}")


class ImageClassifier(pl.LightningModule):
    """Image classification with one of orchard's architectures.

    Args:
        arch: architecture name (``alexnet``, ``alexnet_separable``, ``mobilenet_v1``,
            ``mobilenet_v2``; see ``python cli.py models``).
        num_classes: output classes (linked from the datamodule by ``cli.py``).
        optimizer: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9, Nesterov).
        lr: learning rate.
        weight_decay: L2 / decoupled weight decay.
        freeze: feature blocks to freeze for a transfer stage: ``N`` for the first N
            blocks (``conv1``..``convN`` on the AlexNets; negative: all but the last -N),
            ``all``, a study stage's freeze point (``stage2``, ``stage3``: defined per
            architecture), or block names.
            Frozen parameters get ``requires_grad=False``, never reach the optimizer,
            and frozen BatchNorm layers stay in eval mode.
        init_from: checkpoint of an earlier stage to start from (weights only). Use
            ``--ckpt_path`` to *resume* a run instead.
        reset_head: what of the head starts afresh when ``init_from`` has another class
            count: ``classifier``, only the final classification layer (the hidden dense
            layers keep the earlier stage's weights, as torchvision and timm fine-tune), or
            ``all``, every head layer.
        label_smoothing: label smoothing of the training loss (validation and test report
            plain cross-entropy).
        arch_kwargs: extra builder arguments, e.g. ``{"dropout": 0.5}``.
        channels_last: run convolutions in NHWC memory format (on by default: 20-35 % less
            training time for these nets on a 2-core x86 CPU with torch 2.14 (alexnet,
            mobilenet_v2), max-pooling ~5x faster; pair it with the datamodule's ``channels_last``).
        feature_cache: when the first feature blocks are frozen, compute their outputs once per
            training/validation image when a fit starts and train the rest on them
            (``lightning_modules/feature_cache.py``; its build time counts as training time). It
            stays off, saying why in one line, where it would not be exact: augmented images, a
            random layer in the frozen blocks, or a cache over ``$ORCHARD_FEATURE_CACHE_MAX_GB``.
    """

    def __init__(
        self,
        arch: str = "alexnet",
        num_classes: int = 3,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        freeze: Optional[Union[int, str, list[str]]] = None,
        init_from: Optional[str] = None,
        reset_head: Literal["classifier", "all"] = "classifier",
        label_smoothing: float = 0.0,
        arch_kwargs: Optional[dict[str, Any]] = None,
        channels_last: bool = True,
        feature_cache: bool = True,
    ) -> None:
        super().__init__()
        _check_settings(num_classes=num_classes, lr=lr, weight_decay=weight_decay, label_smoothing=label_smoothing)
        self.save_hyperparameters()
        self.net = build_model(arch, num_classes=num_classes, **(arch_kwargs or {}))
        if init_from:
            load_weights(self.net, init_from, reset_head)
        self.frozen_blocks = resolve_frozen_blocks(self.net, freeze)
        freeze_blocks(self.net, self.frozen_blocks)
        self._frozen_prefix = frozen_prefix_length(self.net, self.frozen_blocks)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # The training epoch's predictions, labels and losses, reduced once at its end (_log_train_epoch).
        self._train_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        # No argument checks in the metrics: cross_entropy has range-checked the same labels just
        # before, and torchmetrics' own check runs torch.unique on every update.
        self.val_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.feature_cache_report: Optional[CacheReport] = None  # what the cache did in the last fit
        self.training_setup_seconds: dict[str, float] = {}  # training work before the first epoch (TrainingTimer)
        self._cached = False  # the fit's batches are the frozen prefix's outputs, not images

    @property
    def trainable_params(self) -> int:
        return trainable_params(self.net)

    def train(self, mode: bool = True) -> "ImageClassifier":
        super().train(mode)
        hold_in_eval(self.net, self.frozen_blocks)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self._frozen_prefix
        if k and torch.is_grad_enabled():
            blocks = list(self.net.features.children())
            with torch.no_grad():  # nothing below the frozen prefix needs a gradient
                for block in blocks[:k]:
                    x = block(x)
            for block in blocks[k:]:
                x = block(x)
            return self.net.head(x)
        return self.net(x)

    def forward_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a fit's batch: images, or the frozen prefix's cached outputs while the feature cache is on."""
        # only inside the fit that built the cache (not in a test that follows a failed fit)
        if self._cached and self._trainer is not None and self._trainer.state.fn == "fit":
            return self.net.head(self.net.forward_blocks(x, self._frozen_prefix))
        return self(x)

    def on_fit_start(self) -> None:
        """Build the frozen-feature cache (when ``feature_cache`` and a frozen prefix) before any batch is drawn.

        The build time is stated in ``training_setup_seconds``, which the ``TrainingTimer`` counts
        into the first epoch, so the cache is never a free lunch in the figures.
        """
        self.feature_cache_report, self._cached = None, False
        self.training_setup_seconds = {}
        if not (self.hparams.feature_cache and self._frozen_prefix):
            return
        trainer = self.trainer
        blocks = self.net.block_names[:self._frozen_prefix]
        report = build_feature_cache(self.net, self._frozen_prefix, blocks, trainer.datamodule,
                                     trainer.precision_plugin.forward_context)
        self.feature_cache_report, self._cached = report, report.on
        if report.on:
            log.info(describe_feature_cache(report))
        else:
            rank_zero_only(log.warning)(describe_feature_cache(report))
        self.training_setup_seconds = {"feature_cache": report.seconds}

    def on_fit_end(self) -> None:
        self._drop_feature_cache()

    def teardown(self, stage: str) -> None:
        self._drop_feature_cache()

    def _drop_feature_cache(self) -> None:
        """Give the datamodule its images back (test, predict and later fits read images)."""
        if self._cached:
            datamodule = self._trainer.datamodule if self._trainer is not None else None
            if datamodule is not None:
                datamodule.drop_features()
            self._cached = False

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        """Validation and test: loss logged per epoch, accuracy accumulated (see :meth:`_log_epoch_metrics`)."""
        x, y = batch
        logits = self.forward_batch(x)
        loss = F.cross_entropy(logits, y)
        getattr(self, f"{stage}_acc").update(logits, y)
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "test", sync_dist=True,
                 batch_size=y.shape[0])
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        """The loss; each step keeps its predicted class ids and loss, and ``self.log`` runs only on logging steps.

        ``train_loss_step`` is logged every ``trainer.log_every_n_steps`` steps (the only steps
        whose values reach the logger), ``train_loss_epoch`` and ``train_acc`` once per epoch from
        the kept outputs: Lightning's per-call bookkeeping in ``self.log`` costs ~1 ms on a CPU
        when made every step, and updating torchmetrics objects every step ~0.4 ms, 5 % of a
        stage-3 step on cached features (both measured on the 2-core Xeon).
        """
        x, y = batch
        logits = self.forward_batch(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        labels = y if y.ndim == 1 else y.argmax(dim=1)  # class ids, also from class-probability targets
        self._train_outputs.append((logits.detach().argmax(dim=1), labels, loss.detach()))
        trainer = self._trainer  # None when called outside a Trainer (self.log would only warn)
        if trainer is not None and (trainer.global_step + 1) % max(trainer.log_every_n_steps, 1) == 0:
            self.log("train_loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def _log_epoch_metrics(self, stage: str) -> None:
        """Log ``<stage>_acc`` over the whole epoch, synced across processes, and reset.

        The same values as logging the metric objects on every step with ``on_epoch=True``,
        without Lightning's per-step bookkeeping of them (~2 ms a training step on CPU).
        """
        metric = getattr(self, f"{stage}_acc")
        if metric.update_count:  # sync_dist: a mean of equal values (compute() already synced), no DDP warning
            self.log(f"{stage}_acc", metric.compute(), prog_bar=True, sync_dist=True)
        metric.reset()

    def _log_train_epoch(self) -> None:
        """Log ``train_acc`` and ``train_loss_epoch`` (mean per image) over the epoch's steps on every process."""
        outputs, self._train_outputs = self._train_outputs, []
        totals = torch.zeros(3, device=self.device)  # float32 whatever the precision: counts stay exact
        if outputs:
            preds, labels, losses = zip(*outputs)
            sizes = torch.tensor([y.shape[0] for y in labels], device=self.device, dtype=torch.float32)
            totals = torch.stack([(torch.cat(preds) == torch.cat(labels)).sum().float(), sizes.sum(),
                                  (torch.stack(losses).float() * sizes).sum()])
        if self.trainer.world_size > 1:  # every process takes part, with or without steps of its own
            totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        correct, images, loss_sum = totals
        if images > 0:  # sync_dist: a mean of equal values, no DDP warning
            self.log("train_acc", correct / images, prog_bar=True, sync_dist=True)
            self.log("train_loss_epoch", loss_sum / images, prog_bar=True, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self._train_outputs = []  # nothing left from an epoch a failure or a stop cut short

    def on_train_epoch_end(self) -> None:
        self._log_train_epoch()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(dim=1)

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None) -> None:
        """Run the training step and backward before ``optimizer.step()``, not inside it.

        Lightning's default hands the closure to ``optimizer.step(closure)``, so the whole
        forward and backward run inside torch's optimizer-step wrappers (profiler record and
        dynamo-disable scopes); measured here, that made a Lightning epoch of mobilenet_v2
        ~10 % slower. Adam, AdamW and SGD need no closure. ``on_before_optimizer_step`` and
        gradient clipping still run inside ``step()``. Mixed precision with a gradient
        scaler reads the closure's result to decide whether to step, so it keeps the default.
        """
        if optimizer_closure is None or self.trainer.precision not in FULL_PRECISION:
            optimizer.step(closure=optimizer_closure)
            return
        optimizer_closure()
        optimizer.step()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return build_optimizer((p for p in self.net.parameters() if p.requires_grad), hp.optimizer, hp.lr, hp.weight_decay)
