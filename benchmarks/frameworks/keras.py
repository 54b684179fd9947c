"""The Keras side of the benchmark: the Keras twin, started from the same initial weights.

Imports no PyTorch: the initial weights come as numpy (``init_weights.npz``), the images as
the same uint8 arrays, so this process holds TensorFlow's thread pools and nothing else.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from tf_models import build_keras_model, copy_torch_weights
from tf_models.data import make_dataset
from tf_models.train import KerasTrainConfig, train_keras

from .data import INIT_NUMPY_FILE, load_arrays
from .runner import BenchmarkRunner, BetweenEpochs


def run_keras(work: Path, arch: str, batch_size: int, epochs: int, optimizer: str, lr: float, seed: int,
              infer: dict[int, int], verbose: int = 1,
              between_epochs: Optional[Callable[[int], None]] = None) -> dict[str, Any]:
    """Train the Keras twin like the Lightning run, then time ``model.predict`` at each batch size in ``infer``.

    Threads must already be set (:func:`tf_models.set_tf_threads`) by the caller.

    Args:
        infer: ``{batch_size: images}`` for the inference measurements.
        verbose: Keras progress output (1: the progress bar a user sees by default).
        between_epochs: called with the epoch number before its clock starts (``benchmarks.frameworks.turns``).
    """
    arrays = load_arrays(work)
    num_classes = len(arrays["class_names"])
    model = build_keras_model(arch, num_classes=num_classes)
    with np.load(work / INIT_NUMPY_FILE) as f:
        copy_torch_weights(model, {k: f[k] for k in f.files})
    config = KerasTrainConfig(batch_size=batch_size, optimizer=optimizer, lr=lr, epochs=epochs, seed=seed,
                              verbose=verbose)
    first_epoch_start: list[float] = []

    from tf_models.backend import keras

    class FirstEpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            if not first_epoch_start:
                first_epoch_start.append(time.perf_counter())

    class BetweenEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            between_epochs(epoch)

    result = train_keras(model, (arrays["train_images"], arrays["train_labels"]),
                         (arrays["val_images"], arrays["val_labels"]), config, callbacks=[FirstEpochClock()],
                         before_timer=[BetweenEpochs()] if between_epochs else None)
    result["first_epoch_start"] = first_epoch_start[0] if first_epoch_start else None
    result["val_acc"] = result["history"].get("val_accuracy", [float("nan")])[-1]
    result["inference_images_per_second"] = {}
    test_images, test_labels = arrays["test_images"], arrays["test_labels"]
    for infer_batch, n_images in infer.items():
        n_images = min(n_images, test_images.shape[0])
        warm = min(infer_batch * 2, n_images)
        model.predict(make_dataset(test_images[:warm], test_labels[:warm], infer_batch), verbose=0)
        dataset = make_dataset(test_images[:n_images], test_labels[:n_images], infer_batch)
        t0 = time.perf_counter()
        model.predict(dataset, verbose=0)
        result["inference_images_per_second"][str(infer_batch)] = n_images / (time.perf_counter() - t0)
    return result


class KerasRunner(BenchmarkRunner):
    """``kind: keras``: :func:`run_keras` with the spec's settings."""

    kind = "keras"
    threads_of = "tensorflow"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        return run_keras(self.work, infer=self.infer(), between_epochs=between_epochs, **self.training_settings())
