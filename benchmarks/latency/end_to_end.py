"""End-to-end latency of one TFLite model on real photo files: what an app does per picture.

Per photo: ``decode`` (JPEG/PNG file -> RGB pixels), ``preprocess`` (resize to the model's input,
normalise with its mean/std, quantise for integer inputs, copy into the input tensor), ``invoke``,
``postprocess`` (read the output, dequantise, softmax, top-1); ``total`` is their sum. The medians
over the photos are reported, with ``load_ms`` (interpreter creation + ``allocate_tensors``, once per
model) beside them — the seed paper's "latency including model loading and image preparation".

The input normalisation comes from the model's own metadata when it carries some
(``export.metadata.read_metadata``), else from the interpreter's input details and the mean/std the
training data were normalised with.
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .options import DEFAULT_PHOTOS
from .timing import elapsed_ms

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class InputSpec:
    """How pixels become the model's input tensor.

    Args:
        height, width: input size (NHWC, batch 1).
        mean, std: per channel, applied to pixels / 255.
        dtype: the input tensor's numpy dtype name.
        scale, zero_point: input quantisation (``None`` for float inputs).
        source: ``metadata`` (read from the .tflite) or ``interpreter`` (input details + data mean/std).
    """

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dtype: str
    scale: float | None
    zero_point: int | None
    source: str


def _metadata(path: Path) -> dict | None:
    """The model's embedded metadata, or ``None`` when the reader is absent or the file carries none."""
    try:
        from export.metadata import read_metadata
    except ImportError:
        return None
    try:
        return read_metadata(path)
    except Exception:  # noqa: BLE001 - a file without metadata falls back to the interpreter's details
        return None


def input_spec(path: Path, input_detail: dict, mean: Sequence[float], std: Sequence[float]) -> tuple[InputSpec, dict | None]:
    """The preprocessing of ``path``: from its metadata when present, else ``input_detail`` + ``mean``/``std``.

    Returns the spec and the metadata (for its labels), if any.
    """
    _, height, width, _ = (int(s) for s in input_detail["shape"])
    dtype = np.dtype(input_detail["dtype"])
    scale, zero_point = input_detail["quantization"]
    quantised = dtype.kind in "iu" and bool(scale)
    meta = _metadata(path)
    source = "interpreter"
    if meta and isinstance(meta.get("input"), dict) and meta["input"].get("mean") is not None:
        m = meta["input"]
        mean, std, source = m["mean"], m["std"], "metadata"
        if m.get("shape"):
            height, width = int(m["shape"][1]), int(m["shape"][2])
        q = m.get("quantization")
        if q:
            scale, zero_point, quantised = q["scale"], q["zero_point"], True
    return InputSpec(height, width, tuple(float(x) for x in mean), tuple(float(x) for x in std), dtype.name,
                     float(scale) if quantised else None, int(zero_point) if quantised else None, source), meta


def photo_files(root: str | Path, n: int = DEFAULT_PHOTOS, seed: int = 0) -> list[Path]:
    """``n`` image files from ``root/Test/<class>/`` (seeded sample; ``root/Training`` when there is no Test)."""
    root = Path(root)
    for split in ("Test", "Training"):
        files = sorted(p for p in (root / split).glob("*/*") if p.suffix.lower() in PHOTO_SUFFIXES)
        if files:
            return sorted(random.Random(seed).sample(files, min(n, len(files))))
    return []


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


class _Pipeline:
    """One loaded model and its preprocessing, run stage by stage on photo files."""

    def __init__(self, path: Path, threads: int, mean: Sequence[float], std: Sequence[float]) -> None:
        from export.tflite_runtime import load_interpreter

        t0 = time.perf_counter_ns()
        self.interpreter = load_interpreter(path, threads)
        self.load_ms = elapsed_ms(t0)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.spec, self.meta = input_spec(path, self.input, mean, std)
        s = self.spec
        # pixels * a + b == (pixels / 255 - mean) / std, one fused multiply-add per channel
        self.a = (1.0 / (255.0 * np.asarray(s.std, np.float32))).astype(np.float32)
        self.b = (-np.asarray(s.mean, np.float32) / np.asarray(s.std, np.float32)).astype(np.float32)

    @staticmethod
    def decode(photo: Path):
        from PIL import Image

        with Image.open(photo) as im:
            im.load()
            return im.convert("RGB") if im.mode != "RGB" else im.copy()

    def preprocess(self, image) -> None:
        from PIL import Image

        s = self.spec
        if image.size != (s.width, s.height):
            image = image.resize((s.width, s.height), Image.BILINEAR)
        x = np.asarray(image, dtype=np.float32) * self.a + self.b
        if s.scale is not None:
            info = np.iinfo(s.dtype)
            x = np.clip(np.round(x / s.scale + s.zero_point), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], x.astype(s.dtype, copy=False)[None])

    def invoke(self) -> None:
        self.interpreter.invoke()

    def postprocess(self) -> tuple[int, float]:
        out = self.interpreter.get_tensor(self.output["index"])[0]
        scale, zero_point = self.output["quantization"]
        logits = (out.astype(np.float32) - zero_point) * scale if np.dtype(out.dtype).kind in "iu" and scale \
            else out.astype(np.float32)
        probs = _softmax(logits)
        top = int(probs.argmax())
        return top, float(probs[top])


def end_to_end(path: str | Path, photos: Sequence[Path], threads: int = 1, mean: Sequence[float] = (0.5, 0.5, 0.5),
               std: Sequence[float] = (0.5, 0.5, 0.5), labels: Sequence[str] | None = None) -> dict:
    """Medians of decode / preprocess / invoke / postprocess / total over ``photos`` (ms), and ``load_ms``.

    One untimed pass over the first photo comes first (the first invoke's set-up is ``first_ms``
    of the invoke-only rows). When the model's labels (its metadata's, else ``labels``) name every
    photo's class folder, ``photo_accuracy`` is the share of photos whose top-1 is that folder: a
    check that the preprocessing here is the training's.
    """
    pipe = _Pipeline(Path(path), threads, mean, std)
    labels = list((pipe.meta or {}).get("labels") or labels or [])
    pipe.preprocess(pipe.decode(photos[0]))
    pipe.invoke()
    pipe.postprocess()
    stages = {k: [] for k in ("decode_ms", "preprocess_ms", "invoke_ms", "postprocess_ms", "total_ms")}
    tops = []
    for photo in photos:
        t0 = time.perf_counter_ns()
        image = pipe.decode(photo)
        t1 = time.perf_counter_ns()
        pipe.preprocess(image)
        t2 = time.perf_counter_ns()
        pipe.invoke()
        t3 = time.perf_counter_ns()
        tops.append(pipe.postprocess()[0])
        t4 = time.perf_counter_ns()
        for key, (a, b) in zip(stages, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t0, t4))):
            stages[key].append((b - a) / 1e6)
    out = {"threads": threads, "photos": len(photos), "load_ms": pipe.load_ms,
           **{k: round(float(np.median(v)), 3) for k, v in stages.items()},
           "input": asdict(pipe.spec), "photo_accuracy": None}
    if labels and all(p.parent.name in labels for p in photos):
        out["photo_accuracy"] = round(float(np.mean([labels[t] == p.parent.name for t, p in zip(tops, photos)])), 4)
    return out
