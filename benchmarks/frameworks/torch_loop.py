"""A plain PyTorch training loop: the same net, data path and optimizer as the Lightning module, no Lightning.

It is the baseline that shows what Lightning adds: whole batches from ``InMemoryBatches``,
``BatchTransform`` (augmentation, normalisation, memory format), the net from the registry
in the same memory format, ``ImageClassifier``'s optimizer, ``zero_grad(set_to_none=True)``,
cross-entropy, backward, step. Epochs are timed like ``TrainingTimer`` (validation excluded).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from datamodules.batches import BatchTransform, InMemoryBatches
from datamodules.in_memory import InMemoryImageDataModule

from .runner import BenchmarkRunner, BetweenEpochs


def _epoch_batches(data: InMemoryImageDataModule, split: str, train: bool, epoch: int) -> InMemoryBatches:
    batches = data.batches(split, train=train)
    batches.epoch_fn = lambda: epoch  # reshuffle per epoch, as Lightning's current_epoch does
    return batches


@torch.inference_mode()
def evaluate(net: nn.Module, batches: InMemoryBatches, transform: BatchTransform) -> float:
    """Accuracy over ``batches`` (eval mode; the caller restores the mode)."""
    net.eval()
    correct = seen = 0
    for batch in batches:
        x, y = transform(batch)
        correct += int((net(x).argmax(1) == y).sum())
        seen += int(y.numel())
    return correct / max(seen, 1)


def train_plain(
    net: nn.Module,
    data: InMemoryImageDataModule,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    validate: bool = True,
    on_epoch_start: Optional[callable] = None,
) -> dict[str, Any]:
    """Train ``net`` on ``data``'s training split; returns ``TrainingTimer``-style timing.

    Args:
        net: the model, already in the memory format the data transform produces.
        data: an orchard in-memory datamodule (its ``transform`` is the data path).
        optimizer: e.g. ``lightning_modules.optimizers.build_optimizer``.
        epochs: training epochs.
        validate: run validation after every epoch (outside the clock), as Lightning does.
        on_epoch_start: called with the epoch number just before its clock starts.
    """
    transform = data.transform
    epoch_seconds: list[float] = []
    images = 0
    val_acc: list[float] = []
    for epoch in range(epochs):
        batches = _epoch_batches(data, "train", True, epoch)
        net.train()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        t0 = time.perf_counter()
        loss_sum = torch.zeros(())
        for batch in batches:
            x, y = transform(batch)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            images += int(y.numel())
        epoch_seconds.append(time.perf_counter() - t0)
        if validate:
            val_acc.append(evaluate(net, _epoch_batches(data, "val", False, epoch), transform))
    total = sum(epoch_seconds)
    return {
        "train_seconds": total,
        "epochs": epochs,
        "epoch_seconds": epoch_seconds,
        "images": images,
        "images_per_second": images / total if total > 0 else 0.0,
        "val_acc": val_acc,
        "last_epoch_mean_loss": float(loss_sum) / max(len(batches), 1),
    }


@torch.inference_mode()
def inference_images_per_second(net: nn.Module, images: torch.Tensor, transform: BatchTransform,
                                batch_size: int, warmup_batches: int = 2) -> float:
    """Images/s of ``net(transform(uint8 batch)).argmax(1)`` over ``images`` (eval mode, inference mode)."""
    net.eval()
    labels = torch.zeros(images.shape[0], dtype=torch.long)
    batches = InMemoryBatches(images, labels, batch_size)
    for i, batch in enumerate(batches):
        if i >= warmup_batches:
            break
        net(transform(batch)[0]).argmax(1)
    t0 = time.perf_counter()
    for batch in batches:
        net(transform(batch)[0]).argmax(1)
    return images.shape[0] / (time.perf_counter() - t0)


def run_pytorch(work, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float, channels_last: bool,
                seed: int, infer: dict[int, int], save_weights: Optional[str] = None,
                between_epochs: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
    """The plain-loop measurement: same data module, initial weights, memory format and optimizer as Lightning.

    Args:
        work: the benchmark's work folder (arrays and initial weights).
        infer: ``{batch_size: images}`` for the inference measurements.
        save_weights: where to save the trained state dict (for the TFLite comparison).
        between_epochs: called with the epoch number before its clock starts (``benchmarks.frameworks.turns``).
    """
    from pathlib import Path

    from lightning_modules.architectures import build_model
    from lightning_modules.optimizers import build_optimizer

    from .data import INIT_TORCH_FILE, ArrayDataModule

    work = Path(work)
    torch.manual_seed(seed)
    data = ArrayDataModule(str(work), batch_size=batch_size, seed=seed, channels_last=channels_last)
    data.setup()
    net = build_model(arch, num_classes=data.num_classes)
    net.load_state_dict(torch.load(work / INIT_TORCH_FILE, weights_only=True))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = build_optimizer([p for p in net.parameters() if p.requires_grad], optimizer, lr)
    starts: list[float] = []

    def on_epoch_start(epoch: int) -> None:
        if between_epochs is not None:
            between_epochs(epoch)
        if not starts:
            starts.append(time.perf_counter())

    result = train_plain(net, data, opt, epochs, on_epoch_start=on_epoch_start)
    result["first_epoch_start"] = starts[0] if starts else None
    result["val_acc"] = result["val_acc"][-1] if result["val_acc"] else float("nan")
    test_images = data.splits["test"][0]
    result["inference_images_per_second"] = {
        str(b): inference_images_per_second(net, test_images[:n], data.transform, b) for b, n in infer.items()
    }
    if save_weights:
        torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, save_weights)
    return result


class TorchLoopRunner(BenchmarkRunner):
    """``kind: pytorch``: :func:`run_pytorch` (the plain loop) with the spec's settings."""

    kind = "pytorch"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        return run_pytorch(self.work, channels_last=self.spec["channels_last"], infer=self.infer(),
                           save_weights=self.spec.get("save_weights"), between_epochs=between_epochs,
                           **self.training_settings())
