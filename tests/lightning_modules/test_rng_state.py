"""RNGStateCheckpoint: a resumed fit draws the same random numbers (dropout masks) as the uninterrupted one."""
from __future__ import annotations

import random

import numpy as np
import torch

from lightning_modules.callbacks import RNGStateCheckpoint


def _draws() -> tuple:
    return torch.rand(4).tolist(), np.random.rand(4).tolist(), [random.random() for _ in range(4)]


def test_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    callback = RNGStateCheckpoint()
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    _draws()
    torch.save({"callbacks": {"RNGStateCheckpoint": callback.state_dict()}}, tmp_path / "last.ckpt")
    expected = _draws()
    torch.manual_seed(2), np.random.seed(2), random.seed(2)  # what seed_everything does on a restart
    assert _draws() != expected
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]["RNGStateCheckpoint"]
    RNGStateCheckpoint().load_state_dict(saved)
    assert _draws() == expected
