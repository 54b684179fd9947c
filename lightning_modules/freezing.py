"""Staged freezing: which feature blocks of an :class:`OrchardNet` stop training."""
from __future__ import annotations

from typing import Optional, Union

from torch import nn

from common.errors import OrchardError

from .architectures.base import OrchardNet

FreezeSpec = Optional[Union[int, list[str]]]


class FreezeError(OrchardError, ValueError):
    """An unknown block name or an impossible block count."""


def resolve_frozen_blocks(net: OrchardNet, freeze: FreezeSpec) -> list[str]:
    """Block names to freeze: ``N`` = the first N feature blocks, or explicit names."""
    names = net.block_names
    if freeze is None:
        return []
    if isinstance(freeze, bool):
        raise FreezeError(f"freeze must be a block count or a list of block names, got {freeze!r}")
    if isinstance(freeze, int):
        if not 0 <= freeze <= len(names):
            raise FreezeError(f"freeze={freeze}: {type(net).__name__} has {len(names)} feature blocks ({', '.join(names)})")
        return names[:freeze]
    unknown = [b for b in freeze if b not in names]
    if unknown:
        raise FreezeError(f"unknown block(s) {', '.join(unknown)} for {type(net).__name__}; blocks are: {', '.join(names)}")
    return [b for b in names if b in freeze]


def frozen_prefix_length(net: OrchardNet, frozen: list[str]) -> int:
    """How many leading blocks are frozen (those can run without autograd)."""
    k = 0
    for name in net.block_names:
        if name not in frozen:
            break
        k += 1
    return k


def freeze_blocks(net: OrchardNet, frozen: list[str]) -> None:
    """Turn ``requires_grad`` off for every parameter of the named blocks and put them in eval mode.

    Eval mode from the start matters: Lightning (2.2+) never calls ``.train()`` when a fit
    starts, it keeps (and after validation restores) each module's own mode, so a block
    left in training mode here would update its BatchNorm running statistics all fit long.
    """
    for name in frozen:
        for p in net.block(name).parameters():
            p.requires_grad_(False)
    hold_in_eval(net, frozen)


def hold_in_eval(net: OrchardNet, frozen: list[str]) -> None:
    """Keep frozen blocks in eval mode so BatchNorm running statistics stay put."""
    for name in frozen:
        block: nn.Module = net.block(name)
        block.eval()
