"""The paper's small AlexNet-style CNN (952,835 trainable parameters with 3 classes)."""
from __future__ import annotations

from torch import nn

from .base import OrchardNet, named
from .layers import ChannelsLastFlatten, init_weights, mlp_head


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, separable: bool) -> list[nn.Module]:
    if not separable:
        return [nn.Conv2d(in_ch, out_ch, kernel, stride=stride)]
    return [
        nn.Conv2d(in_ch, in_ch, kernel, stride=stride, groups=in_ch, bias=False),  # depthwise
        nn.Conv2d(in_ch, out_ch, 1),  # pointwise
    ]


class AlexNet(OrchardNet):
    """AlexNet-style CNN for 3x100x100 input.

    conv1 5x5/16 s2 -> ReLU -> BN -> maxpool (48 -> 24); conv2 3x3/32 -> ReLU -> BN ->
    maxpool (22 -> 11); conv3 3x3/64 -> ReLU (9); conv4 3x3/128 -> ReLU -> maxpool (3);
    flatten 1152 -> 512 -> 512 -> classes. All convolutions are "valid".

    Args:
        num_classes: size of the output layer.
        dropout: dropout probability between the dense layers (0 disables it; the
            default, because the small fruit sets train fastest and deterministically without).
        separable: replace every conv by depthwise (no bias) + 1x1 pointwise (bias).
    """

    def __init__(self, num_classes: int = 3, dropout: float = 0.0, separable: bool = False) -> None:
        super().__init__(num_classes)
        self.dropout = dropout
        s = separable
        self.features = named([
            ("conv1", nn.Sequential(*_conv(3, 16, 5, 2, s), nn.ReLU(inplace=True), nn.BatchNorm2d(16), nn.MaxPool2d(2))),
            ("conv2", nn.Sequential(*_conv(16, 32, 3, 1, s), nn.ReLU(inplace=True), nn.BatchNorm2d(32), nn.MaxPool2d(2))),
            ("conv3", nn.Sequential(*_conv(32, 64, 3, 1, s), nn.ReLU(inplace=True))),
            ("conv4", nn.Sequential(*_conv(64, 128, 3, 1, s), nn.ReLU(inplace=True), nn.MaxPool2d(2))),
        ])
        self.head = self.build_head(num_classes)
        init_weights(self)

    def build_head(self, num_classes: int) -> nn.Module:
        return nn.Sequential(ChannelsLastFlatten(), mlp_head(3 * 3 * 128, 512, num_classes, self.dropout))


def alexnet(num_classes: int = 3, dropout: float = 0.0) -> AlexNet:
    """The paper's AlexNet (952,835 trainable parameters with 3 classes)."""
    return AlexNet(num_classes, dropout=dropout)


def alexnet_separable(num_classes: int = 3, dropout: float = 0.0) -> AlexNet:
    """AlexNet with depthwise-separable convolutions (866,750 trainable parameters with 3 classes)."""
    return AlexNet(num_classes, dropout=dropout, separable=True)
