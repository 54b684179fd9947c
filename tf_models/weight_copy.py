"""Copy a PyTorch twin's weights into the Keras twin (NCHW -> NHWC layouts).

Layers are paired by name: each weighted Keras layer is named with the dotted path of the
PyTorch module it mirrors (see :mod:`tf_models.layers`). Works from a live ``nn.Module``
or from a plain ``{name: array}`` state dict, so a TensorFlow process need not import torch.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from .backend import keras

layers = keras.layers


class WeightCopyError(ValueError):
    """The PyTorch state dict and the Keras model are not twins."""


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _group_by_module(state_dict: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    groups: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        groups[module][param] = _numpy(value)
    return dict(groups)


def _keras_weights(layer: Any, p: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The PyTorch tensors of one module, in the Keras layer's layout and order."""
    if isinstance(layer, layers.DepthwiseConv2D):
        kernel = p["weight"].transpose(2, 3, 0, 1)  # C x 1 x kh x kw -> kh x kw x C x 1
        return [kernel] + ([p["bias"]] if layer.use_bias else [])
    if isinstance(layer, layers.Conv2D):
        kernel = p["weight"].transpose(2, 3, 1, 0)  # out x in x kh x kw -> kh x kw x in x out
        return [kernel] + ([p["bias"]] if layer.use_bias else [])
    if isinstance(layer, layers.Dense):
        return [p["weight"].T, p["bias"]]
    if isinstance(layer, layers.BatchNormalization):
        return [p["weight"], p["bias"], p["running_mean"], p["running_var"]]
    raise WeightCopyError(f"no weight mapping for Keras layer {layer.name!r} ({type(layer).__name__})")


def copy_torch_weights(keras_model: keras.Model, torch_weights: Any, prefix: str = "") -> int:
    """Load PyTorch weights into ``keras_model``; returns the number of layers copied.

    Args:
        keras_model: a model from :func:`tf_models.build_keras_model`.
        torch_weights: the PyTorch twin (an ``nn.Module``) or its ``state_dict()``
            (tensors or numpy arrays).
        prefix: key prefix to strip, e.g. ``"net."`` for a Lightning checkpoint's state dict.

    Raises:
        WeightCopyError: a weighted layer on either side has no twin, or a shape differs.
    """
    state = torch_weights.state_dict() if hasattr(torch_weights, "state_dict") else torch_weights
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    groups = _group_by_module(state)
    weighted = [layer for layer in keras_model.layers if layer.weights]
    missing = [layer.name for layer in weighted if layer.name not in groups]
    extra = sorted(set(groups) - {layer.name for layer in weighted})
    if missing or extra:
        raise WeightCopyError(f"not twins: Keras layers without PyTorch weights {missing}, "
                              f"PyTorch modules without a Keras layer {extra}")
    for layer in weighted:
        values = _keras_weights(layer, groups[layer.name])
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [v.shape for v in values]
        if expected != got:
            raise WeightCopyError(f"layer {layer.name!r}: Keras shapes {expected}, PyTorch gives {got}")
        layer.set_weights(values)
    return len(weighted)


def nchw_to_nhwc(images: Any) -> np.ndarray:
    """``N x C x H x W`` (tensor or array) -> contiguous ``N x H x W x C`` numpy."""
    return np.ascontiguousarray(np.asarray(_numpy(images) if hasattr(images, "detach") else images).transpose(0, 2, 3, 1))
