"""Frozen-feature cache: a frozen prefix of feature blocks runs once per image, not once per epoch.

A transfer stage that freezes the first N feature blocks (held in eval mode, see ``freezing.py``)
and feeds them unaugmented images computes the same prefix outputs every epoch. The cache runs the
prefix once over the training and validation images when a fit starts, hands those outputs to the
datamodule in place of the images (same order, same batches: only the tensor behind each split
changes) and the classifier trains the remaining blocks and the head on them. TensorFlow's
``retrain.py`` called these "bottlenecks".

Exactness: the prefix is a deterministic function of the image when nothing in it is random and
its input is not augmented, so cached and uncached fits see the same features up to
floating-point reordering (batch size of the prefix pass), the same batch order, and draw the
same random numbers (the head's dropout). Where that does not hold the cache stays off and says
why in one line. The test split is not cached: it is read once, after the fit.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

log = logging.getLogger("orchard.feature_cache")

CACHED_SPLITS = ("train", "val")
# Images per prefix pass while building: small enough that a chunk's activations stay in the
# core's cache between blocks (README, frozen-feature cache, has the figures); 32 or 16 were no faster.
CHUNK = 64
MAX_GB_ENV = "ORCHARD_FEATURE_CACHE_MAX_GB"
DEFAULT_MAX_GB = 2.0
STOCHASTIC = (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)


@dataclass
class CacheReport:
    """What the cache did in one fit: ``on`` with its size and build time, or why it is off."""

    on: bool
    reason: str = ""
    blocks: list[str] = field(default_factory=list)
    images: int = 0
    bytes: int = 0
    seconds: float = 0.0
    feature_shape: Optional[list[int]] = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def max_cache_bytes() -> int:
    """The size above which the cache stays off (``$ORCHARD_FEATURE_CACHE_MAX_GB``, default 2 GiB)."""
    return int(float(os.environ.get(MAX_GB_ENV, DEFAULT_MAX_GB)) * 2**30)


def prefix_modules(net: nn.Module, prefix: int) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every module inside the first ``prefix`` feature blocks."""
    return [(f"{name}.{sub}".rstrip("."), m) for name, block in list(net.features.named_children())[:prefix]
            for sub, m in block.named_modules()]


def why_inexact(net: nn.Module, prefix: int, datamodule: Any) -> Optional[str]:
    """Why cached prefix outputs would differ from computing them every step; ``None`` when they would not."""
    from datamodules.in_memory import InMemoryImageDataModule

    if not isinstance(datamodule, InMemoryImageDataModule):
        return f"the data comes from {type(datamodule).__name__ if datamodule is not None else 'plain dataloaders'}, " \
               "not an orchard in-memory datamodule"
    if datamodule.augment is not None:
        return "the datamodule augments training images (augment=True), so the frozen blocks see new inputs every epoch"
    for name, m in prefix_modules(net, prefix):
        if isinstance(m, STOCHASTIC) and m.p > 0:
            return f"frozen block {name} is random ({type(m).__name__}, p={m.p:g})"
        if m.training:
            return f"frozen block {name} ({type(m).__name__}) is in training mode"
    return None


class OverLimit(Exception):
    """The cache would take more memory than allowed (raised after its first chunk)."""

    def __init__(self, shape: torch.Size, dtype: torch.dtype, size: int) -> None:
        super().__init__(size)
        self.shape, self.dtype, self.size = shape, dtype, size


def compute_features(net: nn.Module, prefix: int, images: torch.Tensor, transform: Any, context: Any,
                     chunk: int = CHUNK, limit_images: Optional[int] = None, limit_bytes: Optional[int] = None
                     ) -> torch.Tensor:
    """The first ``prefix`` blocks' outputs for uint8 ``images``, in chunks, on the net's device, stored on the CPU.

    With ``limit_images`` and ``limit_bytes``, raises :class:`OverLimit` after the first chunk when
    that many images' outputs would take more than ``limit_bytes``.
    """
    device = next(net.parameters()).device
    parts = []
    with torch.no_grad(), context:
        for start in range(0, images.shape[0], chunk):
            x = transform.images(images[start:start + chunk].to(device))
            parts.append(net.forward_blocks(x, 0, prefix).cpu())
            if start == 0 and limit_bytes is not None:
                one = parts[0][0]
                size = (limit_images or images.shape[0]) * one.numel() * one.element_size()
                if size > limit_bytes:
                    raise OverLimit(one.shape, one.dtype, size)
    features = torch.cat(parts) if len(parts) > 1 else parts[0]
    fmt = torch.channels_last if features.ndim == 4 and parts[0].is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format
    return features.contiguous(memory_format=fmt)  # the layout the remaining blocks would have seen


def build(net: nn.Module, prefix: int, block_names: list[str], datamodule: Any,
          context_factory: Any) -> CacheReport:
    """Compute and install the cache on ``datamodule``, or leave it off; returns what happened.

    Args:
        net: the :class:`OrchardNet`, frozen prefix held in eval mode.
        prefix: how many leading feature blocks are frozen.
        block_names: their names (for the report).
        datamodule: the fit's datamodule; receives the features via ``use_features``.
        context_factory: returns the precision context the fit's forward passes run in
            (``trainer.precision_plugin.forward_context``), so cached features have the dtype
            and rounding the uncached path would give them.
    """
    t0 = time.perf_counter()
    reason = why_inexact(net, prefix, datamodule)
    if reason is not None:
        return CacheReport(on=False, reason=reason, blocks=block_names)
    datamodule.setup()
    splits = [s for s in CACHED_SPLITS if s in datamodule.splits]
    images = sum(int(datamodule.splits[s][0].shape[0]) for s in splits)
    limit = max_cache_bytes()
    features: dict[str, torch.Tensor] = {}
    try:
        for split in splits:  # the first chunk tells the size of the whole cache
            features[split] = compute_features(net, prefix, datamodule.splits[split][0], datamodule.transform,
                                               context_factory(), limit_images=images, limit_bytes=limit)
    except OverLimit as e:
        return CacheReport(on=False, blocks=block_names, bytes=e.size, feature_shape=list(e.shape),
                           reason=f"the outputs of {_span(block_names)} ({'x'.join(map(str, e.shape))} "
                                  f"{str(e.dtype)[6:]} per image) would take {e.size / 2**30:.1f} GiB for {images} "
                                  f"images, over the {limit / 2**30:g} GiB limit (${MAX_GB_ENV})")
    datamodule.use_features(features)
    shape = next(iter(features.values())).shape[1:]
    return CacheReport(on=True, blocks=block_names, images=images, feature_shape=list(shape),
                       bytes=sum(f.numel() * f.element_size() for f in features.values()),
                       seconds=time.perf_counter() - t0)


def _span(blocks: list[str]) -> str:
    return f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else "".join(blocks)


def describe(report: CacheReport) -> str:
    """One line for the user."""
    if not report.on:
        return f"feature cache off: {report.reason}"
    return (f"feature cache: {_span(report.blocks)} outputs of {report.images} train/val images "
            f"({report.bytes / 2**20:.1f} MiB) computed once in {report.seconds:.2f} s")
