"""Architectures (pure ``nn.Module``), the LightningModule, freezing and callbacks."""
from .architectures import build_model, list_models, trainable_params
from .callbacks import TrainingTimer
from .classifier import ImageClassifier

__all__ = ["ImageClassifier", "TrainingTimer", "build_model", "list_models", "trainable_params"]
