"""Staged freezing: which feature blocks of an :class:`OrchardNet` stop training."""
from __future__ import annotations

from typing import Optional, Union

from torch import nn

from common.errors import OrchardError

from .architectures.base import OrchardNet

FreezeSpec = Optional[Union[int, str, list[str]]]


class FreezeError(OrchardError, ValueError):
    """An unknown block name or an impossible block count."""


def resolve_frozen_blocks(net: OrchardNet, freeze: FreezeSpec) -> list[str]:
    """Block names to freeze, input first.

    ``freeze`` is ``None`` (nothing), ``N`` (the first N feature blocks; negative: every block but
    the last -N, as in a slice), ``"all"`` (every feature block), a transfer stage's freeze point
    (``"stage2"``, ``"stage3"``: the architecture's :attr:`OrchardNet.transfer_freeze`), one block
    name, or a list of block names.
    """
    names = net.block_names
    arch = type(net).__name__
    if freeze is None:
        return []
    if isinstance(freeze, bool):
        raise FreezeError(f"freeze must be a block count or a list of block names, got {freeze!r}")
    if isinstance(freeze, int):
        if not -len(names) < freeze <= len(names):
            raise FreezeError(f"freeze={freeze}: {arch} has {len(names)} feature blocks ({', '.join(names)}); "
                              f"use 0..{len(names)}, or -1..-{len(names) - 1} for all but the last blocks")
        return names[:freeze]
    if isinstance(freeze, str):
        if freeze == "all":
            return list(names)
        if freeze in net.transfer_freeze:
            return resolve_frozen_blocks(net, net.transfer_freeze[freeze])
        freeze = [freeze]
    unknown = [b for b in freeze if b not in names]
    if unknown:
        raise FreezeError(f"unknown block(s) {', '.join(unknown)} for {arch}; blocks are: {', '.join(names)} "
                          f"(or a count, 'all', {', '.join(map(repr, net.transfer_freeze))})")
    return [b for b in names if b in freeze]


def frozen_share(net: OrchardNet, frozen: list[str]) -> float:
    """Share of the network's parameters (elements) held by the ``frozen`` blocks."""
    total = sum(p.numel() for p in net.parameters())
    held = sum(p.numel() for name in frozen for p in net.block(name).parameters())
    return held / total if total else 0.0


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
