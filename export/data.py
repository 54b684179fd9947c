"""Real images for calibration and parity checks, from a datamodule."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from datamodules.in_memory import InMemoryImageDataModule

DEFAULT_DATA_ROOT = "data/fruits360-synthetic"
DEFAULT_CALIBRATION_IMAGES = 500  # seeded training images the quantised models are calibrated on


def datamodule_from_hparams(hparams: dict[str, Any]) -> InMemoryImageDataModule:
    """Rebuild the datamodule a checkpoint was trained with (``datamodule_hyper_parameters``)."""
    class_path = hparams.get("_class_path", "datamodules.Fruits360DataModule")
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**{k: v for k, v in hparams.items() if not k.startswith("_")})


def fruits360(root: str | Path = DEFAULT_DATA_ROOT, grouping: str | None = "apple_pear_noise", per_class: int | None = 400,
              seed: int = 0) -> InMemoryImageDataModule:
    """Study 2's data: Fruits-360 apple / pear / noise (or the synthetic sample)."""
    from datamodules import Fruits360DataModule

    return Fruits360DataModule(str(root), grouping=grouping, per_class=per_class, seed=seed, augment=False)


def describe_data(dm: InMemoryImageDataModule) -> dict:
    """What export.json and reports record about the images used."""
    return {"datamodule": type(dm).__name__, "root": str(getattr(dm, "root", "")), "synthetic": bool(dm.synthetic),
            "classes": list(dm.class_names)}
