"""Architectures by name (the timm way): one builder interface for every model."""
from __future__ import annotations

from typing import Callable

from torch import nn

from common.errors import OrchardError

from .alexnet import alexnet, alexnet_separable
from .base import OrchardNet
from .mobilenet_v1 import mobilenet_v1
from .mobilenet_v2 import mobilenet_v2

ARCHITECTURES: dict[str, Callable[..., OrchardNet]] = {
    "alexnet": alexnet,
    "alexnet_separable": alexnet_separable,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
}

# The papers' trainable parameter counts with 3 classes.
PAPER_TRAINABLE_PARAMS = {
    "alexnet": 952_835,
    "alexnet_separable": 866_750,
    "mobilenet_v1": 801_795,
    "mobilenet_v2": 98_379,
}


class UnknownArchitectureError(OrchardError, ValueError):
    """Raised for an architecture name that is not in the registry."""


def list_models() -> list[str]:
    return list(ARCHITECTURES)


def check_name(name: str) -> str:
    if name not in ARCHITECTURES:
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    return name


def build_model(name: str, num_classes: int = 3, **kwargs) -> OrchardNet:
    """Build architecture ``name`` with a ``num_classes``-way head."""
    return ARCHITECTURES[check_name(name)](num_classes=num_classes, **kwargs)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
