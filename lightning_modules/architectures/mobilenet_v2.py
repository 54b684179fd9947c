"""A small MobileNetV2 (98,379 trainable parameters with 3 classes).

The paper gives no layer list; this reconstruction matches its parameter count exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import OrchardNet, named
from .layers import Dropout, init_weights


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups),
        nn.BatchNorm2d(out_ch),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """expand 1x1 (skipped when t=1) -> dw 3x3 -> project 1x1 (linear), residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn(in_ch, hidden, 1))
        layers.append(conv_bn(hidden, hidden, 3, stride=stride, padding=1, groups=hidden))
        layers.append(conv_bn(hidden, out_ch, 1, act=False))
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class GlobalAveragePool(nn.Module):
    """Mean over H and W (exports as ONNX ReduceMean / TFLite MEAN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class MobileNetV2(OrchardNet):
    """MobileNetV2 for 3x100x100 input.

    stem conv 5x5/16 s2 valid (48) -> inverted residuals (t=1,16,s1) (t=6,24,s2) (t=6,32,s2)
    (t=6,64,s2) (t=6,64,s1) -> global average pool -> dense 64 -> classes.

    Args:
        num_classes: size of the output layer.
        dropout: dropout probability between the two dense layers (0 disables it).
    """

    def __init__(self, num_classes: int = 3, dropout: float = 0.0) -> None:
        super().__init__(num_classes)
        self.dropout = dropout
        self.features = named([
            ("stem", conv_bn(3, 16, 5, stride=2)),
            ("block1", InvertedResidual(16, 16, 1, 1)),
            ("block2", InvertedResidual(16, 24, 2, 6)),
            ("block3", InvertedResidual(24, 32, 2, 6)),
            ("block4", InvertedResidual(32, 64, 2, 6)),
            ("block5", InvertedResidual(64, 64, 1, 6)),
        ])
        self.head = self.build_head(num_classes)
        init_weights(self)

    def build_head(self, num_classes: int) -> nn.Module:
        layers: list[nn.Module] = [GlobalAveragePool(), nn.Linear(64, 64), nn.ReLU(inplace=True)]
        if self.dropout > 0:
            layers.append(Dropout(self.dropout))
        return nn.Sequential(*layers, nn.Linear(64, num_classes))


def mobilenet_v2(num_classes: int = 3, dropout: float = 0.0) -> MobileNetV2:
    """MobileNetV2 reconstruction (98,379 trainable parameters with 3 classes)."""
    return MobileNetV2(num_classes, dropout=dropout)
