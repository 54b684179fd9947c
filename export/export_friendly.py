"""A numerically identical copy of a network whose ONNX graph converts to TFLite without Transposes.

onnx2tf keeps tensors in NHWC. An ONNX op that reduces or flattens over NCHW axes makes it
insert a ``TRANSPOSE`` back to NCHW first. Writing such ops in channels-last order (a
``permute(0, 2, 3, 1)`` the converter cancels against its own layout change) removes it:
the AlexNet/MobileNetV1 heads already flatten with ``ChannelsLastFlatten``; here the
MobileNetV2 global average pool gets the same treatment at export time.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from lightning_modules.architectures.mobilenet_v2 import GlobalAveragePool


class ChannelsLastMean(nn.Module):
    """Mean over H and W taken in NHWC order (ONNX: Transpose + ReduceMean(1, 2) -> TFLite MEAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).mean(dim=(1, 2))


def _swap_modules(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, GlobalAveragePool):
            setattr(module, name, ChannelsLastMean())
        else:
            _swap_modules(child)


def export_copy(net: nn.Module) -> nn.Module:
    """A float32, eval-mode, NCHW-contiguous deep copy of ``net`` with export-friendly ops."""
    twin = copy.deepcopy(net).float().eval().to(memory_format=torch.contiguous_format)
    for p in twin.parameters():
        p.requires_grad_(False)
    _swap_modules(twin)
    return twin
