"""Keras layer helpers that mirror the PyTorch building blocks, named after their PyTorch twins.

Every Keras layer that carries weights is named with the dotted path of the PyTorch module
it mirrors (``features.conv1.0``, ``head.1.2`` ...), which is how
:func:`tf_models.weight_copy.copy_torch_weights` pairs them up.
"""
from __future__ import annotations

from typing import Any

from .backend import keras

layers = keras.layers

# PyTorch BatchNorm2d defaults: eps 1e-5, running = 0.9 * running + 0.1 * batch.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
ReLU6_MAX = 6.0


class Namer:
    """Hands out ``prefix.0``, ``prefix.1`` ... like the indices of an ``nn.Sequential``.

    Layers without weights (ReLU, pooling) take an index too, so the weighted ones keep
    the same index as in PyTorch.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.index = 0

    def __call__(self) -> str:
        name = f"{self.prefix}.{self.index}"
        self.index += 1
        return name


def conv2d(
    x: Any,
    name: str,
    filters: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    use_bias: bool = True,
    depthwise: bool = False,
) -> Any:
    """A ``nn.Conv2d`` twin: ``padding`` is PyTorch's symmetric zero padding.

    No padding -> ``"valid"``; stride 1 with ``padding == kernel // 2`` -> ``"same"`` (which is
    symmetric then); anything else (e.g. stride 2, padding 1) -> ``ZeroPadding2D`` + ``"valid"``,
    because Keras ``"same"`` pads asymmetrically (bottom/right only) at stride 2.
    """
    mode = "valid"
    if padding:
        if stride == 1 and 2 * padding == kernel - 1:
            mode = "same"
        else:
            x = layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)
    if depthwise:
        return layers.DepthwiseConv2D(kernel, strides=stride, padding=mode, use_bias=use_bias, name=name)(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding=mode, use_bias=use_bias, name=name)(x)


def batch_norm(x: Any, name: str) -> Any:
    """A ``nn.BatchNorm2d`` twin (PyTorch's epsilon and momentum)."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def relu(x: Any, name: str, max_value: float | None = None) -> Any:
    """``nn.ReLU`` (``max_value=None``) or ``nn.ReLU6`` (``max_value=6``)."""
    return layers.ReLU(max_value=max_value, name=name)(x)


def mlp_head(x: Any, prefix: str, hidden: int, num_classes: int, dropout: float = 0.0) -> Any:
    """Twin of ``lightning_modules.architectures.layers.mlp_head``: in -> hidden -> hidden -> classes."""
    n = Namer(prefix)
    for _ in range(2):
        x = layers.Dense(hidden, name=n())(x)
        x = relu(x, n())
        if dropout > 0:
            x = layers.Dropout(dropout, name=n())(x)
    return layers.Dense(num_classes, name=n())(x)


def image_input(input_size: tuple[int, int, int]) -> Any:
    """An NHWC Keras input for a PyTorch ``(C, H, W)`` input size."""
    c, h, w = input_size
    return keras.Input(shape=(h, w, c), name="image")
