"""Helpers for tests/lightning_modules/test_ddp.py that must be importable by child processes (DDP ranks, spawned workers)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.distributed as dist


class BatchProbe(pl.Callback):
    """Writes ``rank<N>.json``: each training epoch's batch count, a fingerprint of every image seen, the step losses
    and the images predicted right."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.epochs: list[list[str]] = []
        self.losses: list[list[tuple[float, int]]] = []
        self.correct: list[int] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs.append([])
        self.losses.append([])
        self.correct.append(0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        self.losses[-1].append((float(outputs["loss"]), int(batch[1].shape[0])))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        with torch.no_grad():  # what the training step is about to predict (no dropout; frozen BatchNorm in eval)
            self.correct[-1] += int((pl_module.forward_batch(batch[0]).argmax(dim=1) == batch[1]).sum())
        images = batch[0].detach().cpu().contiguous()
        self.epochs[-1] += [hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16] for image in images]
        self.epochs[-1].append(f"step:{batch_idx}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(
            {"rank": trainer.global_rank, "world_size": trainer.world_size, "epochs": self.epochs,
             "losses": self.losses, "correct": self.correct}))


def shard_worker(rank: int, world: int, init_file: str, out_dir: str, cases: list[tuple[int, int]]) -> None:
    """One rank of a real gloo process group: which items ``InMemoryBatches`` gives it, per case and epoch.

    Writes ``rank<N>.json``: ``{"<n>x<batch>": {"False"|"True" (drop_last): [{"len", "batches"} per epoch]}}``.
    """
    from datamodules.batches import InMemoryBatches

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        dist.barrier()  # both ranks connected before either can finish and tear the group down
        seen: dict[str, dict[str, list]] = {}
        for n, batch_size in cases:
            images, labels = torch.zeros(n, 3, 4, 4, dtype=torch.uint8), torch.arange(n)
            for drop_last in (False, True):
                epochs = []
                for epoch in range(2):
                    batches = InMemoryBatches(images, labels, batch_size, shuffle=True, drop_last=drop_last, seed=3,
                                              epoch_fn=lambda e=epoch: e)
                    epochs.append({"len": len(batches), "batches": [b[1].tolist() for b in batches]})
                seen.setdefault(f"{n}x{batch_size}", {})[str(drop_last)] = epochs
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
        dist.barrier()
    finally:
        dist.destroy_process_group()
