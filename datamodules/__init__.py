"""LightningDataModules: images decoded once into memory, served as whole batches.

The datamodules are imported when first used, so ``cli.py data`` and ``cli.py --help`` start without torch.
"""
from typing import Any

from .errors import DataError

__all__ = ["DataError", "Fruits360DataModule", "InMemoryImageDataModule"]


def __getattr__(name: str) -> Any:
    if name == "Fruits360DataModule":
        from .fruits360 import Fruits360DataModule

        return Fruits360DataModule
    if name == "InMemoryImageDataModule":
        from .in_memory import InMemoryImageDataModule

        return InMemoryImageDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
