"""Architectures by name (the timm way): one builder interface for every model.

Every builder takes ``num_classes`` and the same keywords, :data:`BUILDER_KEYWORDS` (as every
timm model takes ``drop_rate``), so a config written for one architecture builds any other.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

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


# The keywords every builder accepts (``--model.arch_kwargs``), with what they mean.
BUILDER_KEYWORDS = {
    "dropout": "float in [0, 1), default 0: dropout probability after each hidden dense layer of the head",
}


class UnknownArchitectureError(OrchardError, ValueError):
    """Raised for an architecture name that is not in the registry."""


class ArchitectureKeywordError(OrchardError, ValueError):
    """A builder keyword an architecture does not take, or a value it cannot use."""


def list_models() -> list[str]:
    """The registered architecture names."""
    return list(ARCHITECTURES)


def check_name(name: str) -> str:
    if name not in ARCHITECTURES:
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    return name


def builder_keywords(name: str) -> list[str]:
    """The keywords architecture ``name``'s builder takes besides ``num_classes``."""
    params = inspect.signature(ARCHITECTURES[check_name(name)]).parameters
    return [k for k in params if k != "num_classes"]


def check_keywords(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse, in one line naming the architecture and what it accepts, keywords its builder does not take.

    Raises:
        ArchitectureKeywordError: an unknown keyword, or a ``dropout`` outside [0, 1).
    """
    accepted = builder_keywords(name)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ArchitectureKeywordError(
            f"architecture {name!r} takes no keyword {', '.join(map(repr, unknown))} (model.arch_kwargs); "
            f"it accepts: {', '.join(accepted) or 'none'}")
    dropout = kwargs.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ArchitectureKeywordError(f"architecture {name!r}: dropout must be a number in [0, 1), got {dropout!r}")


def build_model(name: str, num_classes: int = 3, **kwargs: Any) -> OrchardNet:
    """Build architecture ``name`` with a ``num_classes``-way head and the common builder keywords.

    Raises:
        UnknownArchitectureError: ``name`` is not registered.
        ArchitectureKeywordError: a keyword outside :data:`BUILDER_KEYWORDS` or a bad value.
    """
    check_keywords(check_name(name), kwargs)
    return ARCHITECTURES[name](num_classes=num_classes, **kwargs)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
