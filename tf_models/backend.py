"""Which Keras the TF twins use, and the TensorFlow thread settings.

orchard uses **Keras 3** (``import keras``), the Keras that ``tf.keras`` resolves to in
TensorFlow 2.19 by default, rather than the legacy ``tf-keras`` package:

* it is what a TF 2.19 user gets from ``tf.keras`` out of the box, so the framework
  comparison measures the stack people actually run;
* importing ``keras`` directly pins Keras 3 even after ``onnx2tf`` has set
  ``TF_USE_LEGACY_KERAS=1`` process-wide (which silently turns ``tf.keras`` into
  ``tf_keras``), so a model built here is the same model in every process;
* ``tf.lite.TFLiteConverter.from_keras_model`` converts Keras 3 models (it exports the
  inference call through ``keras.export.ExportArchive``), so the paper's export route works.

Benchmarks still run TensorFlow in processes of its own, so TF and PyTorch never share a
thread pool and onnx2tf's environment change cannot leak into a Keras measurement.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402  (after the environment defaults above)

if not keras.__version__.startswith("3"):  # pragma: no cover - guarded by the pinned install
    raise ImportError(f"tf_models needs Keras 3, found keras {keras.__version__}")
if keras.backend.backend() != "tensorflow":  # pragma: no cover - KERAS_BACKEND set by the user
    raise ImportError(f"tf_models needs the TensorFlow backend of Keras, found {keras.backend.backend()!r}")


def set_tf_threads(threads: int) -> None:
    """Use ``threads`` intra-op and inter-op threads (call before TensorFlow runs anything).

    Raises:
        RuntimeError: when TensorFlow's runtime is already initialised with other settings.
    """
    import tensorflow as tf

    threading = tf.config.threading
    if threading.get_intra_op_parallelism_threads() == threads and threading.get_inter_op_parallelism_threads() == threads:
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as e:
        raise RuntimeError(
            f"TensorFlow is already running with intra/inter-op threads "
            f"{threading.get_intra_op_parallelism_threads()}/{threading.get_inter_op_parallelism_threads()} "
            f"(0 = TF's default); call tf_models.set_tf_threads({threads}) before building a model"
        ) from e


__all__ = ["keras", "set_tf_threads"]
