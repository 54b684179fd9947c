"""A small MobileNetV1 (801,795 trainable parameters with 3 classes).

The paper gives no layer list; this reconstruction matches its parameter count exactly.
"""
from __future__ import annotations

from torch import nn

from .base import OrchardNet, named
from .layers import ChannelsLastFlatten, init_weights, mlp_head


def conv_bn_act(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    ]


def depthwise_separable(in_ch: int, out_ch: int, stride: int, padding: int) -> nn.Sequential:
    """dw 3x3 (no bias) + BN + ReLU6, then pw 1x1 (no bias) + BN + ReLU6."""
    return nn.Sequential(
        *conv_bn_act(in_ch, in_ch, 3, stride, padding, groups=in_ch),
        *conv_bn_act(in_ch, out_ch, 1, 1, 0),
    )


class MobileNetV1(OrchardNet):
    """MobileNetV1 for 3x100x100 input.

    stem conv 5x5/32 s2 valid (48) -> separable blocks 32->32 s2 (24), 32->32 s2 (12),
    32->64 s2 (6), 64->64 s1 valid (4) -> flatten 1024 -> 512 -> 512 -> classes.

    Args:
        num_classes: size of the output layer.
        dropout: dropout probability between the dense layers (0 disables it).
    """

    def __init__(self, num_classes: int = 3, dropout: float = 0.0) -> None:
        super().__init__(num_classes)
        self.dropout = dropout
        self.features = named([
            ("stem", nn.Sequential(*conv_bn_act(3, 32, 5, 2, 0))),
            ("block1", depthwise_separable(32, 32, 2, 1)),
            ("block2", depthwise_separable(32, 32, 2, 1)),
            ("block3", depthwise_separable(32, 64, 2, 1)),
            ("block4", depthwise_separable(64, 64, 1, 0)),
        ])
        self.head = self.build_head(num_classes)
        init_weights(self)

    def build_head(self, num_classes: int) -> nn.Module:
        return nn.Sequential(ChannelsLastFlatten(), mlp_head(4 * 4 * 64, 512, num_classes, self.dropout))


def mobilenet_v1(num_classes: int = 3, dropout: float = 0.0) -> MobileNetV1:
    """MobileNetV1 reconstruction (801,795 trainable parameters with 3 classes)."""
    return MobileNetV1(num_classes, dropout=dropout)
