"""Keras twins of the AlexNet-style CNN and its depthwise-separable variant (NHWC)."""
from __future__ import annotations

from typing import Any

from .backend import keras
from .layers import Namer, batch_norm, conv2d, image_input, layers, mlp_head, relu

INPUT_SIZE = (3, 100, 100)


def _conv(x: Any, n: Namer, in_ch: int, out_ch: int, kernel: int, stride: int, separable: bool) -> Any:
    if not separable:
        return conv2d(x, n(), out_ch, kernel, stride)
    x = conv2d(x, n(), in_ch, kernel, stride, use_bias=False, depthwise=True)
    return conv2d(x, n(), out_ch, 1)


def _block(x: Any, name: str, in_ch: int, out_ch: int, kernel: int, stride: int, separable: bool,
           bn: bool, pool: bool) -> Any:
    n = Namer(f"features.{name}")
    x = _conv(x, n, in_ch, out_ch, kernel, stride, separable)
    x = relu(x, n())
    if bn:
        x = batch_norm(x, n())
    if pool:
        x = layers.MaxPooling2D(2, name=n())(x)
    return x


def keras_alexnet(num_classes: int = 3, dropout: float = 0.0, separable: bool = False) -> keras.Model:
    """conv1 5x5/16 s2 -> ReLU -> BN -> pool; conv2 3x3/32 -> ReLU -> BN -> pool; conv3 3x3/64 -> ReLU;
    conv4 3x3/128 -> ReLU -> pool; flatten 1152 -> 512 -> 512 -> classes (all convs "valid").

    Args:
        num_classes: size of the output layer.
        dropout: dropout between the dense layers (0 disables it, as in PyTorch's default).
        separable: every conv as depthwise (no bias) + 1x1 pointwise (bias).
    """
    s = separable
    inputs = image_input(INPUT_SIZE)
    x = _block(inputs, "conv1", 3, 16, 5, 2, s, bn=True, pool=True)
    x = _block(x, "conv2", 16, 32, 3, 1, s, bn=True, pool=True)
    x = _block(x, "conv3", 32, 64, 3, 1, s, bn=False, pool=False)
    x = _block(x, "conv4", 64, 128, 3, 1, s, bn=False, pool=True)
    x = layers.Flatten(name="head.0")(x)  # NHWC order == PyTorch's ChannelsLastFlatten
    outputs = mlp_head(x, "head.1", 512, num_classes, dropout)
    return keras.Model(inputs, outputs, name="alexnet_separable" if separable else "alexnet")


def keras_alexnet_separable(num_classes: int = 3, dropout: float = 0.0) -> keras.Model:
    """AlexNet with depthwise-separable convolutions."""
    return keras_alexnet(num_classes, dropout=dropout, separable=True)
