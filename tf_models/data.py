"""tf.data twin of orchard's whole-batch data path (``datamodules.batches``).

Same in-memory uint8 images, same per-epoch reshuffle, whole-batch augmentation (random
horizontal/vertical flips, integer shifts with the border replicated, as ``BatchAugment``),
resize only when the images are not ``image_size``, normalisation with mean = std = 0.5,
in NHWC (Keras's layout).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .weight_copy import nchw_to_nhwc


def to_nhwc_uint8(images: np.ndarray) -> np.ndarray:
    """Accept ``N x C x H x W`` (orchard's datamodules) or ``N x H x W x C`` uint8; return NHWC."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected a 4-d uint8 image array, got {images.dtype} {images.shape}")
    return nchw_to_nhwc(images) if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3) else images


def normalise(images: tf.Tensor, image_size: int = 100, mean: float = 0.5, std: float = 0.5) -> tf.Tensor:
    """uint8 NHWC batch -> float32, resized to ``image_size`` if needed, ``(x/255 - mean) / std``."""
    x = tf.cast(images, tf.float32)
    if x.shape[1] != image_size or x.shape[2] != image_size:
        x = tf.image.resize(x, (image_size, image_size), method="bilinear")
    return (x - mean * 255.0) / (std * 255.0)


def apply_augment(images: tf.Tensor, flips: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Flip and shift a uint8 NHWC batch by gathers; pixels shifted in replicate the border.

    Args:
        images: ``N x H x W x C``.
        flips: ``N x 2`` bool (horizontal, vertical), as ``BatchAugment``'s first two columns.
        shifts: ``N x 2`` int32 (dy, dx), as its last two.
    """
    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    rows = tf.broadcast_to(tf.range(h)[None], (n, h))
    cols = tf.broadcast_to(tf.range(w)[None], (n, w))
    rows = tf.where(flips[:, 1:2], h - 1 - rows, rows)
    cols = tf.where(flips[:, 0:1], w - 1 - cols, cols)
    rows = tf.clip_by_value(rows - shifts[:, 0:1], 0, h - 1)
    cols = tf.clip_by_value(cols - shifts[:, 1:2], 0, w - 1)
    out = tf.gather(images, rows, axis=1, batch_dims=1)  # n x h x w x c
    return tf.gather(out, cols, axis=2, batch_dims=1)


def augment(images: tf.Tensor, seed: tf.Tensor, max_shift: int = 6) -> tf.Tensor:
    """Random flips (p = 0.5 each) and shifts in ``[-max_shift, max_shift]`` from a stateless ``seed``."""
    n = tf.shape(images)[0]
    seeds = tf.random.split(seed, 2)
    flips = tf.random.stateless_uniform((n, 2), seeds[0]) < 0.5
    shifts = tf.random.stateless_uniform((n, 2), seeds[1], minval=-max_shift, maxval=max_shift + 1, dtype=tf.int32)
    return apply_augment(images, flips, shifts)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    train: bool = False,
    seed: int = 0,
    augment_images: bool = True,
    max_shift: int = 6,
    image_size: int = 100,
) -> tf.data.Dataset:
    """Batches of ``(normalised float NHWC images, int64 labels)`` from in-memory arrays.

    Training datasets reshuffle every epoch (seeded), drop a final incomplete batch when
    there is more than one batch (as orchard's datamodules do) and, with ``augment_images``,
    augment every batch; all of it is prefetched, the idiomatic Keras input pipeline.
    """
    images = to_nhwc_uint8(images)
    labels = np.asarray(labels, dtype=np.int64)
    n = images.shape[0]
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if train:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=train and n > batch_size)
    if train and augment_images:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda batch, s: (normalise(augment(batch[0], s, max_shift), image_size), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (normalise(x, image_size), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def steps_and_images(n: int, batch_size: int, train: bool) -> tuple[int, int]:
    """Batches per epoch and images they hold, matching :func:`make_dataset`'s drop rule."""
    if train and n > batch_size:
        steps = n // batch_size
        return steps, steps * batch_size
    return -(-n // batch_size), n
