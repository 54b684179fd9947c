"""TFLite from orchard's bridge (PyTorch -> ONNX -> onnx2tf) vs TFLite from the Keras-native converter.

Both start from the same trained PyTorch weights; each step runs in a process of its own
(onnx2tf sets ``TF_USE_LEGACY_KERAS=1`` process-wide and must not meet the Keras route).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from .runner import BenchmarkRunner, BetweenEpochs

BRIDGE_DIR = "bridge_export"
KERAS_TFLITE = "keras_native_float32.tflite"


def convert_keras_native(arch: str, num_classes: int, weights_npz: Path, out_path: Path) -> dict[str, Any]:
    """Keras twin + copied weights -> ``TFLiteConverter.from_keras_model`` -> float32 ``.tflite``."""
    from tf_models import build_keras_model, copy_torch_weights
    from tf_models.convert import keras_to_tflite

    model = build_keras_model(arch, num_classes=num_classes)
    with np.load(weights_npz) as f:
        copy_torch_weights(model, {k: f[k] for k in f.files})
    t0 = time.perf_counter()
    keras_to_tflite(model, out_path)
    return {"path": str(out_path), "convert_seconds": time.perf_counter() - t0, "bytes": out_path.stat().st_size}


def convert_bridge(arch: str, num_classes: int, weights_pt: Path, out_dir: Path, images_npz: Path) -> dict[str, Any]:
    """PyTorch net + trained weights -> ``export.bridge.export_model`` (float32 only)."""
    import torch

    from export.bridge import export_model
    from export.names import tflite_file
    from lightning_modules.architectures import build_model

    net = build_model(arch, num_classes=num_classes)
    net.load_state_dict(torch.load(weights_pt, weights_only=True))
    net.eval()
    with np.load(images_npz) as f:
        calibration, test, labels = (torch.from_numpy(f[k]) for k in ("calibration", "test", "labels"))
    t0 = time.perf_counter()
    report = export_model(net, out_dir, calibration, test, labels, precisions=("float32",),
                          extra={"arch": arch, "purpose": "benchmark frameworks"})
    return {"path": str(out_dir / tflite_file("float32")), "convert_seconds": time.perf_counter() - t0,
            "bytes": (out_dir / tflite_file("float32")).stat().st_size, "bridge_report": report}


def measure_tflite(models: dict[str, str], images_nchw: np.ndarray, threads: int, invokes: int,
                   block: int = 10, warmup: int = 10) -> dict[str, Any]:
    """Batch-1 ``invoke()`` latency (the paper's measurement) of several models, alternating in blocks.

    Both models live in this one process (the same runtime, one thread pool busy at a time)
    and take turns every ``block`` invokes, in the order given, so drift on a shared machine
    hits them alike. Also returns op counts and each model's outputs on ``images_nchw``.

    Args:
        models: ``{name: .tflite path}``.
        invokes: timed invokes per model.
    """
    from export.tflite_runtime import TFLiteModel, op_counts, run_one_image

    nhwc = np.ascontiguousarray(images_nchw.transpose(0, 2, 3, 1))
    loaded = {name: TFLiteModel(path, threads) for name, path in models.items()}
    result: dict[str, Any] = {}
    for name, model in loaded.items():
        outputs = np.concatenate([run_one_image(model, nhwc[i:i + 1]) for i in range(nhwc.shape[0])])
        for i in range(warmup):
            run_one_image(model, nhwc[i % nhwc.shape[0]][None])
        model.set_input(nhwc[:1])
        result[name] = {"ops": op_counts(models[name]), "outputs": outputs.tolist(), "times": []}
    while any(len(r["times"]) < invokes for r in result.values()):
        for name, model in loaded.items():
            times = result[name]["times"]
            for _ in range(min(block, invokes - len(times))):
                t0 = time.perf_counter()
                model.invoke()
                times.append(time.perf_counter() - t0)
    for r in result.values():
        ms = sorted(t * 1000 for t in r.pop("times"))
        r["latency_ms"] = {"median": statistics.median(ms), "min": ms[0], "p90": ms[int(0.9 * (len(ms) - 1))]}
        r["invokes"] = len(ms)
    return result


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Max/mean absolute difference of two logit arrays and how often their top-1 classes agree."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = np.abs(a - b)
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean())}


class KerasTFLiteRunner(BenchmarkRunner):
    """``kind: keras_tflite``: :func:`convert_keras_native`."""

    kind = "keras_tflite"
    threads_of = "tensorflow"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        s = self.spec
        return convert_keras_native(s["arch"], s["num_classes"], Path(s["weights_npz"]), Path(s["out"]))


class BridgeTFLiteRunner(BenchmarkRunner):
    """``kind: bridge_tflite``: :func:`convert_bridge`."""

    kind = "bridge_tflite"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        s = self.spec
        return convert_bridge(s["arch"], s["num_classes"], Path(s["weights_pt"]), Path(s["out"]),
                              Path(s["images_npz"]))


class TFLiteLatencyRunner(BenchmarkRunner):
    """``kind: tflite_latency``: :func:`measure_tflite` on the spec's first test images."""

    kind = "tflite_latency"
    threads_of = "tflite"

    def run(self, between_epochs: BetweenEpochs = None) -> dict[str, Any]:
        s = self.spec
        with np.load(s["images_npz"]) as f:
            images = f["test"][: s["output_images"]]
        return measure_tflite(s["models"], images, s["threads"], s["invokes"])


TFLITE_RUNNERS: dict[str, type[BenchmarkRunner]] = {
    r.kind: r for r in (KerasTFLiteRunner, BridgeTFLiteRunner, TFLiteLatencyRunner)}
