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
        int8_min_top1_agreement: share of images whose int8 top-1 class equals PyTorch's.
    """

    float32_max_abs_diff: float = 1e-4
    float16_max_abs_diff: float = 1e-2
    int8_min_top1_agreement: float = 0.98

    def as_dict(self) -> dict:
        return {**asdict(self), "compared_on": {"float32": "logits", "float16": "softmax probabilities",
                                                "int8": "top-1 class"}}


def accuracy(logits: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Top-1 accuracy, or ``None`` without labels."""
    if labels is None:
        return None
    return float((logits.argmax(axis=1) == labels).mean())


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def compare(reference: np.ndarray, logits: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Logit differences (``max_abs_diff``, ``mean_abs_diff``), the probabilities' ``max_abs_diff_probs``,
    ``top1_agreement`` with the reference, and ``test_accuracy``."""
    if reference.shape != logits.shape:
        raise ValueError(f"output shape {logits.shape} differs from PyTorch's {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - logits.astype(np.float64))
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff_probs": float(np.abs(softmax(reference) - softmax(logits)).max()),
        "top1_agreement": float((reference.argmax(axis=1) == logits.argmax(axis=1)).mean()),
        "test_accuracy": accuracy(logits, labels),
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
    agreement = tflite.get("int8", {}).get("top1_agreement")
    if agreement is not None and not agreement >= thresholds.int8_min_top1_agreement:
        out.append(f"TFLite int8 top-1 agreement {agreement:.1%} < {thresholds.int8_min_top1_agreement:.0%}")
    return out
