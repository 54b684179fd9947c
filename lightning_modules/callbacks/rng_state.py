"""Random-number-generator states in the checkpoint, so a resumed fit draws what the uninterrupted one would."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


class RNGStateCheckpoint(pl.Callback):
    """Saves the torch (CPU and CUDA), numpy and Python RNG states with every checkpoint and restores them on resume.

    Dropout draws from torch's global generator. ``seed_everything`` reseeds it when a run
    restarts, so without this a fit resumed with ``--ckpt_path`` would drop other units than the
    uninterrupted fit from the resumed epoch on. (The batch order and augmentation are seeded per
    epoch by the datamodules and need nothing here.) Under DDP the checkpoint holds rank 0's states
    and every rank restores them, as ``seed_everything`` gave every rank the same seed. The states
    are stored as tensors, strings and ints, so checkpoints still load with ``weights_only=True``.
    """

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        states: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states["cuda"] = torch.cuda.get_rng_state_all()
        return states

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "torch" in state_dict:
            torch.set_rng_state(state_dict["torch"])
        if "numpy" in state_dict:
            kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        if "python" in state_dict:
            random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
