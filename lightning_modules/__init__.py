"""Architectures (pure ``nn.Module``), the LightningModule, freezing and callbacks.

The names below are imported when first used, so a command that needs none of them (``cli.py
--help``, ``cli.py data``) starts without torch.
"""
from typing import Any

__all__ = ["ImageClassifier", "TrainingTimer", "build_model", "list_models", "trainable_params"]


def __getattr__(name: str) -> Any:
    if name in {"build_model", "list_models", "trainable_params"}:
        from . import architectures

        return getattr(architectures, name)
    if name == "TrainingTimer":
        from .callbacks import TrainingTimer

        return TrainingTimer
    if name == "ImageClassifier":
        from .classifier import ImageClassifier

        return ImageClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
