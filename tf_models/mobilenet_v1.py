"""Keras twin of orchard's small MobileNetV1 reconstruction (NHWC)."""
from __future__ import annotations

from typing import Any

from .backend import keras
from .layers import ReLU6_MAX, Namer, batch_norm, conv2d, image_input, layers, mlp_head, relu

INPUT_SIZE = (3, 100, 100)


def _conv_bn_act(x: Any, n: Namer, filters: int, kernel: int, stride: int, padding: int, depthwise: bool = False) -> Any:
    x = conv2d(x, n(), filters, kernel, stride, padding, use_bias=False, depthwise=depthwise)
    x = batch_norm(x, n())
    return relu(x, n(), max_value=ReLU6_MAX)


def _depthwise_separable(x: Any, name: str, in_ch: int, out_ch: int, stride: int, padding: int) -> Any:
    n = Namer(f"features.{name}")
    x = _conv_bn_act(x, n, in_ch, 3, stride, padding, depthwise=True)
    return _conv_bn_act(x, n, out_ch, 1, 1, 0)


def keras_mobilenet_v1(num_classes: int = 3, dropout: float = 0.0) -> keras.Model:
    """stem 5x5/32 s2 valid -> separable blocks 32 s2, 32 s2, 64 s2 (PyTorch's symmetric padding 1:
    ``ZeroPadding2D(1)`` + "valid"), 64 s1 valid -> flatten 1024 -> 512 -> 512 -> classes.

    Args:
        num_classes: size of the output layer.
        dropout: dropout between the dense layers (0 disables it).
    """
    inputs = image_input(INPUT_SIZE)
    x = _conv_bn_act(inputs, Namer("features.stem"), 32, 5, 2, 0)
    x = _depthwise_separable(x, "block1", 32, 32, 2, 1)
    x = _depthwise_separable(x, "block2", 32, 32, 2, 1)
    x = _depthwise_separable(x, "block3", 32, 64, 2, 1)
    x = _depthwise_separable(x, "block4", 64, 64, 1, 0)
    x = layers.Flatten(name="head.0")(x)
    outputs = mlp_head(x, "head.1", 512, num_classes, dropout)
    return keras.Model(inputs, outputs, name="mobilenet_v1")
