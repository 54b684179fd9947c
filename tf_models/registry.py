"""Keras twins by name: the same names and builder signature as the PyTorch registry."""
from __future__ import annotations

from typing import Callable

from .alexnet import keras_alexnet, keras_alexnet_separable
from .backend import keras
from .mobilenet_v1 import keras_mobilenet_v1
from .mobilenet_v2 import keras_mobilenet_v2

KERAS_ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "alexnet": keras_alexnet,
    "alexnet_separable": keras_alexnet_separable,
    "mobilenet_v1": keras_mobilenet_v1,
    "mobilenet_v2": keras_mobilenet_v2,
}


def list_keras_models() -> list[str]:
    """Names of the architectures that have a Keras twin (all of PyTorch's)."""
    return list(KERAS_ARCHITECTURES)


def build_keras_model(name: str, num_classes: int = 3, **kwargs) -> keras.Model:
    """Build the Keras twin of architecture ``name`` with a ``num_classes``-way head.

    Raises:
        UnknownArchitectureError: for a name that is not registered.
    """
    if name not in KERAS_ARCHITECTURES:
        from lightning_modules.architectures.registry import UnknownArchitectureError

        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; choose one of: {', '.join(KERAS_ARCHITECTURES)}"
        )
    return KERAS_ARCHITECTURES[name](num_classes=num_classes, **kwargs)


def keras_trainable_params(model: keras.Model) -> int:
    """Number of trainable scalars (BatchNorm moving statistics excluded, as in PyTorch)."""
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))
