"""A callback for tests/lightning_modules/test_multinode.py, importable by the ranks ``python cli.py fit`` starts on each node."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytorch_lightning as pl


class RankReport(pl.Callback):
    """Writes ``rank<N>.json``: the rank's place in the job, a fingerprint of each image it trained on, and of its final weights."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.images: list[str] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        images = batch[0].detach().cpu().contiguous()
        self.images += [hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16] for image in images]

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        weights = hashlib.sha1()
        for name, tensor in sorted(pl_module.state_dict().items()):
            weights.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps({
            "global_rank": trainer.global_rank, "node_rank": trainer.node_rank, "local_rank": trainer.local_rank,
            "world_size": trainer.world_size, "num_nodes": trainer.num_nodes, "images": self.images,
            "weights": weights.hexdigest()}))
