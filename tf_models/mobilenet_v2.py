"""Keras twin of orchard's small MobileNetV2 reconstruction (NHWC)."""
from __future__ import annotations

from typing import Any

from .backend import keras
from .layers import ReLU6_MAX, Namer, batch_norm, conv2d, image_input, layers, relu

INPUT_SIZE = (3, 100, 100)


def _conv_bn(x: Any, prefix: str, filters: int, kernel: int, stride: int = 1, padding: int = 0,
             depthwise: bool = False, act: bool = True) -> Any:
    n = Namer(prefix)
    x = conv2d(x, n(), filters, kernel, stride, padding, use_bias=True, depthwise=depthwise)
    x = batch_norm(x, n())
    return relu(x, n(), max_value=ReLU6_MAX) if act else x


def _inverted_residual(x: Any, name: str, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> Any:
    """expand 1x1 (skipped when t=1) -> dw 3x3 pad 1 -> linear project 1x1; residual when shapes match."""
    prefix = f"features.{name}.conv"
    hidden = in_ch * expand_ratio
    i = 0
    y = x
    if expand_ratio != 1:
        y = _conv_bn(y, f"{prefix}.{i}", hidden, 1)
        i += 1
    y = _conv_bn(y, f"{prefix}.{i}", hidden, 3, stride, 1, depthwise=True)
    y = _conv_bn(y, f"{prefix}.{i + 1}", out_ch, 1, act=False)
    if stride == 1 and in_ch == out_ch:
        y = layers.Add(name=f"features.{name}.add")([x, y])
    return y


def keras_mobilenet_v2(num_classes: int = 3) -> keras.Model:
    """stem 5x5/16 s2 valid -> inverted residuals (t=1,16,s1) (t=6,24,s2) (t=6,32,s2) (t=6,64,s2)
    (t=6,64,s1) -> global average pool -> dense 64 -> classes.

    Args:
        num_classes: size of the output layer.
    """
    inputs = image_input(INPUT_SIZE)
    x = _conv_bn(inputs, "features.stem", 16, 5, 2)
    x = _inverted_residual(x, "block1", 16, 16, 1, 1)
    x = _inverted_residual(x, "block2", 16, 24, 2, 6)
    x = _inverted_residual(x, "block3", 24, 32, 2, 6)
    x = _inverted_residual(x, "block4", 32, 64, 2, 6)
    x = _inverted_residual(x, "block5", 64, 64, 1, 6)
    x = layers.GlobalAveragePooling2D(name="head.0")(x)
    x = layers.Dense(64, name="head.1")(x)
    x = relu(x, "head.2")
    outputs = layers.Dense(num_classes, name="head.3")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
