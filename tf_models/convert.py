"""The paper's export route: Keras model -> ``tf.lite.TFLiteConverter`` -> ``.tflite``."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from common.atomic import atomic_path

from .backend import keras

PRECISIONS = ("float32", "float16", "int8")


def keras_to_tflite_bytes(
    model: keras.Model,
    precision: str = "float32",
    calibration_images: Optional[Iterable[np.ndarray]] = None,
) -> bytes:
    """Convert with ``TFLiteConverter.from_keras_model``.

    Args:
        model: a Keras model (inference call, ``training=False``).
        precision: ``float32`` (plain conversion), ``float16`` (float16 weights) or ``int8``
            (full-integer quantisation with float input/output, calibrated on
            ``calibration_images``: normalised NHWC float images).
    """
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calibration_images is None:
            raise ValueError("int8 conversion needs calibration_images")
        images = [np.asarray(x, dtype=np.float32) for x in calibration_images]

        def representative() -> Iterable[list[np.ndarray]]:
            for image in images:
                yield [image[None] if image.ndim == 3 else image]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):  # Keras's export prints the SavedModel signature
        return converter.convert()


def keras_to_tflite(
    model: keras.Model,
    path: str | Path,
    precision: str = "float32",
    calibration_images: Optional[Iterable[np.ndarray]] = None,
) -> Path:
    """Convert ``model`` and write ``path`` (under a temporary name, renamed when complete)."""
    data = keras_to_tflite_bytes(model, precision, calibration_images)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
