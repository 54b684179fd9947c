"""Keras training of the same task, timed the way ``TrainingTimer`` times Lightning.

Same in-memory arrays, batch size, optimizer, learning rate, epochs and thread count as a
Lightning run; the clock covers the training epochs only (validation paused), and the
result has the same keys as ``TrainingTimer.result`` (``train_seconds``, ``epochs``,
``epoch_seconds``, ``images``, ``images_per_second``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from .backend import keras, set_tf_threads
from .data import make_dataset, steps_and_images


@dataclass
class KerasTrainConfig:
    """What a Keras run shares with its Lightning twin.

    Args:
        batch_size: images per step.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9, Nesterov), with PyTorch's
            defaults (Adam epsilon 1e-8). Keras applies ``weight_decay`` decoupled for all three
            (PyTorch's Adam/SGD add it to the gradient); identical when it is 0, the default.
        lr: learning rate.
        weight_decay: weight decay (see ``optimizer``).
        epochs: training epochs.
        threads: TensorFlow intra-op and inter-op threads (``None`` leaves them as they are);
            TF fixes them when it starts, so set them before building the model (or call
            :func:`tf_models.set_tf_threads` first).
        seed: shuffling and augmentation seed.
        augment: random flips and shifts on training batches.
        max_shift: largest shift in pixels.
        verbose: Keras ``fit`` verbosity (0 silent, 2 one line per epoch).
    """

    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 1
    threads: Optional[int] = None
    seed: int = 0
    augment: bool = True
    max_shift: int = 6
    verbose: int = 0


def make_optimizer(name: str, lr: float, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """The Keras twin of ``ImageClassifier.configure_optimizers``."""
    wd = weight_decay or None
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, epsilon=1e-8, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw or sgd")


def compile_for_training(model: keras.Model, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0) -> keras.Model:
    """Compile with cross-entropy on logits and accuracy, Keras's defaults otherwise (no XLA on CPU)."""
    model.compile(
        optimizer=make_optimizer(optimizer, lr, weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class KerasTrainingTimer(keras.callbacks.Callback):
    """Wall-clock time of each training epoch, validation excluded (Keras twin of ``TrainingTimer``).

    Args:
        images_per_epoch: training images one epoch sees.
    """

    def __init__(self, images_per_epoch: int) -> None:
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.epoch_seconds: list[float] = []
        self._t0: Optional[float] = None
        self._val_t0: Optional[float] = None
        self._paused = 0.0

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._t0, self._paused = time.perf_counter(), 0.0

    def on_test_begin(self, logs: Optional[dict] = None) -> None:
        if self._t0 is not None:
            self._val_t0 = time.perf_counter()

    def on_test_end(self, logs: Optional[dict] = None) -> None:
        if self._val_t0 is not None:
            self._paused += time.perf_counter() - self._val_t0
            self._val_t0 = None

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self._t0 is not None:
            self.epoch_seconds.append(time.perf_counter() - self._t0 - self._paused)
            self._t0 = None

    @property
    def result(self) -> dict[str, Any]:
        total = sum(self.epoch_seconds)
        images = self.images_per_epoch * len(self.epoch_seconds)
        return {
            "train_seconds": total,
            "epochs": len(self.epoch_seconds),
            "epoch_seconds": list(self.epoch_seconds),
            "images": images,
            "images_per_second": images / total if total > 0 else 0.0,
        }


def train_keras(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: Optional[tuple[np.ndarray, np.ndarray]] = None,
    config: Optional[KerasTrainConfig] = None,
    callbacks: Optional[list[keras.callbacks.Callback]] = None,
    before_timer: Optional[list[keras.callbacks.Callback]] = None,
) -> dict[str, Any]:
    """Train ``model`` on uint8 images (NCHW or NHWC) and return the timing and final metrics.

    ``callbacks`` run after the timer, ``before_timer`` before it (off the clock).

    Returns:
        ``TrainingTimer``-style timing plus ``history`` (Keras's per-epoch metrics),
        ``threads`` and the ``config`` used.
    """
    cfg = config or KerasTrainConfig()
    if cfg.threads:
        set_tf_threads(cfg.threads)
    keras.utils.set_random_seed(cfg.seed)
    train_ds = make_dataset(*train, cfg.batch_size, train=True, seed=cfg.seed, augment_images=cfg.augment,
                            max_shift=cfg.max_shift)
    val_ds = make_dataset(*val, cfg.batch_size) if val is not None else None
    if not model.compiled:
        compile_for_training(model, cfg.optimizer, cfg.lr, cfg.weight_decay)
    _, images_per_epoch = steps_and_images(len(train[1]), cfg.batch_size, train=True)
    timer = KerasTrainingTimer(images_per_epoch)
    history = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs,
                        callbacks=[*(before_timer or []), timer, *(callbacks or [])], verbose=cfg.verbose,
                        shuffle=False)  # the dataset reshuffles itself every epoch
    import tensorflow as tf

    return {
        **timer.result,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "config": asdict(cfg),
    }
