"""Keras (TensorFlow) twins of orchard's four architectures, and their training and TFLite export.

The PyTorch nets in :mod:`lightning_modules.architectures` are the reference; each Keras twin
has exactly the same layers, trainable parameter count and (after :func:`copy_torch_weights`)
the same outputs, in NHWC layout. See :mod:`tf_models.backend` for why Keras 3.
"""
from .backend import set_tf_threads
from .registry import build_keras_model, keras_trainable_params, list_keras_models
from .weight_copy import WeightCopyError, copy_torch_weights, nchw_to_nhwc

__all__ = [
    "WeightCopyError", "build_keras_model", "copy_torch_weights", "keras_trainable_params",
    "list_keras_models", "nchw_to_nhwc", "set_tf_threads",
]
