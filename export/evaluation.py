"""The real images every exported model is judged on, and batched runs of PyTorch and TFLite over them.

Top-1 agreement with PyTorch needs no labels, so it is measured on every image the data has
(test + train + validation, not capped by ``per_class``); accuracy on the labelled test split,
which comes first in :class:`EvalSet`. Images stay uint8 until a batch is needed (9,700
normalised float images would be 1.2 GB).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from datamodules.in_memory import InMemoryImageDataModule

from .errors import ExportError
from .tflite_runtime import TFLiteModel

TFLITE_BATCH = 32


@dataclass
class EvalSet:
    """Images to judge exported models on; the first ``len(labels)`` are the labelled test split.

    Args:
        images: ``N x C x H x W``, uint8 (normalised per batch by ``transform``) or normalised float.
        labels: labels of the first images (the test split), or ``None`` when not comparable.
        transform: uint8 batch -> normalised float batch (identity for float images).
        sources: how many images each split gave, for ``export.json``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    transform: Callable[[torch.Tensor], torch.Tensor] = field(default=lambda x: x.float())
    sources: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def input_size(self) -> tuple[int, ...]:
        return tuple(self.batch(0, 1).shape[1:])

    @property
    def n_test(self) -> int:
        return 0 if self.labels is None else int(self.labels.shape[0])

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """Normalised float NCHW (contiguous) images ``start:stop``."""
        return self.transform(self.images[start:stop]).float().contiguous()

    def batches(self, size: int, limit: int | None = None) -> Iterator[torch.Tensor]:
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, size):
            yield self.batch(start, min(n, start + size))

    @classmethod
    def from_tensors(cls, images: torch.Tensor, labels: torch.Tensor | None = None) -> "EvalSet":
        """Already normalised float images (e.g. from ``datamodule.sample_images``)."""
        return cls(images.detach().cpu(), None if labels is None else labels.detach().cpu(),
                   sources={"given": int(images.shape[0])})


def uncapped(dm: InMemoryImageDataModule) -> InMemoryImageDataModule:
    """The same datamodule (classes, grouping, seed) without the ``per_class`` cap."""
    if getattr(dm, "per_class", None) is None:
        return dm
    hparams = {k: v for k, v in dict(dm.hparams).items() if not k.startswith("_")}
    full = type(dm)(**{**hparams, "per_class": None, "augment": False})
    if list(full.class_names) != list(dm.class_names):
        raise ExportError(f"the uncapped data has classes {full.class_names}, the capped {dm.class_names}")
    return full


def eval_set(dm: InMemoryImageDataModule, labelled: bool = True) -> EvalSet:
    """Every image of ``dm``'s splits: the test split first (with labels when ``labelled``), then train, val."""
    dm.setup()
    parts, sources = [], {}
    for split in ("test", "train", "val"):
        images, _ = dm.splits[split]
        if any(images is p for p in parts):  # a datamodule without validation images reuses the test split
            continue
        parts.append(images)
        sources[split] = int(images.shape[0])
    labels = dm.splits["test"][1] if labelled else None
    return EvalSet(torch.cat(parts), labels, dm.transform.images, sources)


@torch.inference_mode()
def pytorch_logits(net: nn.Module, data: EvalSet, batch_size: int = 128, threads: int | None = None) -> np.ndarray:
    """``net``'s logits (eval mode) on every image of ``data``; ``net`` itself is not changed.

    Runs an eval-mode copy in channels-last memory, as training does (2x faster on a CPU), with
    ``threads`` intra-op threads for the call (default: torch's setting).
    """
    twin = copy.deepcopy(net).float().eval().to(memory_format=torch.channels_last)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        outs = [twin(x.contiguous(memory_format=torch.channels_last)).float() for x in data.batches(batch_size)]
    finally:
        torch.set_num_threads(previous)
    return torch.cat(outs).numpy()


def onnx_logits(path: str | Path, data: EvalSet, limit: int, threads: int) -> np.ndarray:
    """ONNX Runtime logits on the first ``limit`` images (the model has a static batch of 1)."""
    from .onnx_runtime import onnx_session, run_onnx

    session = onnx_session(path, threads)
    return np.concatenate([run_onnx(session, x.numpy()) for x in data.batches(256, limit)])


def _to_nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def tflite_logits(path: str | Path, data: EvalSet, threads: int | None = None,
                  batch_size: int = TFLITE_BATCH) -> np.ndarray:
    """Float (dequantised) logits of a ``.tflite`` on every image of ``data``.

    The exported graph has a batch of 1; the interpreter is resized to ``batch_size`` (5-10x
    fewer calls), checked against batch-1 outputs on the first images, and falls back to
    one image per invoke when the graph cannot be resized or the results differ.
    """
    threads = threads or os.cpu_count() or 1
    one = TFLiteModel(path, threads)
    first = data.batch(0, min(len(data), 4))
    expected = np.concatenate([_invoke(one, _to_nhwc(first[i:i + 1])) for i in range(first.shape[0])])
    model = _batched(path, threads, batch_size, first.shape[1:])
    if model is not None:
        got = _invoke(model, _pad(_to_nhwc(first), batch_size))[:first.shape[0]]
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            model = None
    if model is None:
        return np.concatenate([_invoke(one, _to_nhwc(x[i:i + 1])) for x in data.batches(256) for i in range(x.shape[0])])
    outs = []
    for x in data.batches(batch_size):
        outs.append(_invoke(model, _pad(_to_nhwc(x), batch_size))[:x.shape[0]])
    return np.concatenate(outs)


def _batched(path: str | Path, threads: int, batch_size: int, chw: tuple[int, ...]) -> TFLiteModel | None:
    model = TFLiteModel(path, threads)
    c, h, w = chw
    try:
        model.interpreter.resize_tensor_input(model.input["index"], [batch_size, h, w, c], strict=False)
        model.interpreter.allocate_tensors()
    except (ValueError, RuntimeError):
        return None
    model.input = model.interpreter.get_input_details()[0]
    model.output = model.interpreter.get_output_details()[0]
    if int(model.output["shape"][0]) != batch_size:
        return None
    return model


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[0] == size:
        return x
    return np.concatenate([x, np.zeros((size - x.shape[0], *x.shape[1:]), dtype=x.dtype)])


def _invoke(model: TFLiteModel, nhwc: np.ndarray) -> np.ndarray:
    model.set_input(nhwc)
    model.invoke()
    return model.get_output().copy()
