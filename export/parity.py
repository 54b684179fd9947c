"""Compare an exported model's outputs with PyTorch's on the same real images."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ParityThresholds:
    """The bridge's acceptance limits.

    Args:
        float32_max_abs_diff: ONNX Runtime and float32 TFLite logits vs PyTorch.
        float16_max_abs_diff: float16 TFLite vs PyTorch, on the softmax probabilities. Rounding
            the weights to float16 is a relative error (~1e-3 of the logits' scale), so an absolute
            limit on unbounded logits would reject correct exports of confident trained nets
            (measured: 0.0103 on logits of magnitude 8.8); probabilities are bounded and are what
            an app reads. The logits' difference is recorded beside it.
        quantized_min_agreement: a quantised model (int8 and its fallbacks) must give PyTorch's
            top-1 class on at least this share of every real image the data has.
        quantized_max_accuracy_drop: ... and lose at most this much test accuracy against the
            float32 TFLite model (0.01 = one point).
        fresh_min_cosine: for fresh, untrained weights (near-uniform outputs, where top-1
            agreement means nothing) a quantised model is judged on output closeness instead:
            the smallest cosine similarity between its dequantised logits and PyTorch's.
    """

    float32_max_abs_diff: float = 1e-4
    float16_max_abs_diff: float = 1e-2
    quantized_min_agreement: float = 0.99
    quantized_max_accuracy_drop: float = 0.01
    fresh_min_cosine: float = 0.95

    def as_dict(self) -> dict:
        return {**asdict(self), "compared_on": {
            "float32": "logits", "float16": "softmax probabilities",
            "quantized": "top-1 agreement with PyTorch and test accuracy against float32 TFLite "
                         "(fresh weights: cosine similarity of the logits)"}}


def accuracy(logits: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Top-1 accuracy, or ``None`` without labels."""
    if labels is None:
        return None
    return float((logits.argmax(axis=1) == labels).mean())


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cosine(reference: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity (1.0 where both rows are zero)."""
    a, b = reference.astype(np.float64), logits.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = dot / (na * nb)
    return np.where((na == 0) & (nb == 0), 1.0, np.nan_to_num(out, nan=0.0))


def compare(reference: np.ndarray, logits: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Figures of ``logits`` against PyTorch's ``reference`` on the same images.

    Logit differences (``max_abs_diff``, ``mean_abs_diff``), the probabilities'
    ``max_abs_diff_probs``, ``top1_agreement``, ``cosine_min``/``cosine_mean`` of the logits,
    ``agreement_images``, and ``test_accuracy``/``test_images`` on the first ``len(labels)``
    images (the labelled test split comes first).
    """
    if reference.shape != logits.shape:
        raise ValueError(f"output shape {logits.shape} differs from PyTorch's {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - logits.astype(np.float64))
    cos = cosine(reference, logits)
    n_test = 0 if labels is None else int(labels.shape[0])
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff_probs": float(np.abs(softmax(reference) - softmax(logits)).max()),
        "top1_agreement": float((reference.argmax(axis=1) == logits.argmax(axis=1)).mean()),
        "agreement_images": int(reference.shape[0]),
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "test_accuracy": accuracy(logits[:n_test], labels) if n_test else None,
        "test_images": n_test,
    }


def failures(report: dict, thresholds: ParityThresholds) -> list[str]:
    """Every broken limit in an ``export.json``-shaped report, as short phrases (empty: all pass)."""
    out = []

    def above(name: str, value: float | None, limit: float) -> None:
        if value is not None and not value <= limit:
            out.append(f"{name} max abs diff {value:.3g} > {limit:g}")

    above("ONNX Runtime", report.get("onnx", {}).get("max_abs_diff"), thresholds.float32_max_abs_diff)
    tflite = report.get("tflite", {})
    above("TFLite float32", tflite.get("float32", {}).get("max_abs_diff"), thresholds.float32_max_abs_diff)
    above("TFLite float16 (probabilities)", tflite.get("float16", {}).get("max_abs_diff_probs"),
          thresholds.float16_max_abs_diff)
    return out


def quantized_failures(entry: dict, float32_accuracy: float | None, thresholds: ParityThresholds,
                       fresh_weights: bool) -> list[str]:
    """The gate of a quantised model (``compare``'s figures), as short phrases (empty: it passes).

    Trained weights: top-1 agreement with PyTorch and test accuracy at most
    ``quantized_max_accuracy_drop`` below the float32 TFLite model's. Fresh weights: cosine
    similarity of the logits (top-1 of near-uniform outputs is a coin toss).
    """
    out = []
    if fresh_weights:
        if not entry["cosine_min"] >= thresholds.fresh_min_cosine:
            out.append(f"logit cosine similarity {entry['cosine_min']:.4f} < {thresholds.fresh_min_cosine:g}")
        return out
    if not entry["top1_agreement"] >= thresholds.quantized_min_agreement:
        out.append(f"top-1 agreement {entry['top1_agreement']:.2%} < {thresholds.quantized_min_agreement:.0%} "
                   f"on {entry['agreement_images']} images")
    acc = entry.get("test_accuracy")
    floor = None if float32_accuracy is None else float32_accuracy - thresholds.quantized_max_accuracy_drop - 1e-9
    if acc is not None and floor is not None and not acc >= floor:
        out.append(f"test accuracy {acc:.2%} < float32's {float32_accuracy:.2%} - "
                   f"{thresholds.quantized_max_accuracy_drop * 100:g} point(s)")
    return out
