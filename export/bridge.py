"""``export_model``: an OrchardNet -> ``model.onnx`` + float32/float16/int8 ``.tflite`` + ``export.json``.

Every exported model is run on the same real images as PyTorch (ONNX Runtime and the
TFLite interpreter); the figures go into ``export.json`` and a broken limit raises
:class:`~export.errors.ParityError` before anything appears under the final folder name.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.atomic import atomic_dir, check_out_dir, write_json_atomic

from .errors import ExportError, ParityError
from .export_friendly import export_copy
from .onnx_export import export_onnx
from .onnx_runtime import onnx_session, run_onnx
from .parity import ParityThresholds, accuracy, compare, failures
from .tflite_convert import PRECISIONS, convert_to_tflite
from .tflite_runtime import TFLiteModel, op_counts, tensor_dtypes

ONNX_FILE = "model.onnx"
REPORT_FILE = "export.json"
# what an export folder holds (an earlier export there may be replaced; anything else is refused)
EXPORT_OUTPUTS = (ONNX_FILE, "model_*.tflite", REPORT_FILE, "labels.txt")


def tflite_file(precision: str) -> str:
    """The file name of one precision's model inside an export folder."""
    return f"model_{precision}.tflite"


def _check_inputs(net: nn.Module, images: torch.Tensor, what: str) -> None:
    expected = tuple(getattr(net, "input_size", images.shape[1:]))
    if images.ndim != 4 or tuple(images.shape[1:]) != expected or images.shape[0] < 1:
        raise ExportError(f"{what} must be N x {' x '.join(map(str, expected))} float images, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ExportError(f"{what} must be normalised float images, got dtype {images.dtype}")


@torch.inference_mode()
def _pytorch_logits(net: nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    was_training = net.training
    net.eval()
    try:
        outs = [net(images[i:i + batch_size].float()) for i in range(0, images.shape[0], batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(outs).float().numpy()


def _structural_failures(report: dict, input_size: tuple[int, int, int]) -> list[str]:
    out = []
    channels, height, width = input_size
    for precision, entry in report["tflite"].items():
        if entry["input"]["shape"] != [1, height, width, channels]:
            out.append(f"TFLite {precision} input shape {entry['input']['shape']} is not NHWC [1, {height}, {width}, {channels}]")
    if "TRANSPOSE" in report["tflite"].get("float32", {}).get("ops", {}):
        out.append("a TRANSPOSE op remains in the float32 TFLite graph")
    return out


def export_model(
    net: nn.Module,
    out_dir: str | Path,
    calibration_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    precisions=("float32", "float16", "int8"),
    extra: dict | None = None,
    *,
    thresholds: ParityThresholds | None = None,
) -> dict:
    """Export ``net`` to ONNX and TFLite in ``out_dir``, prove parity, return ``export.json``'s dict.

    Args:
        net: an OrchardNet (its training mode is restored afterwards; it is not modified).
        out_dir: the export folder; written atomically (built beside it, renamed on success;
            an earlier export there is replaced only when the new one passes every check; any
            other non-empty folder is refused).
        calibration_images: normalised float NCHW real images (e.g. ``datamodule.sample_images(20)``);
            int8 is calibrated on them.
        test_images: normalised float NCHW real images for the parity checks (default: the
            calibration images).
        test_labels: their labels, for the test accuracy of each runtime.
        precisions: which ``model_<precision>.tflite`` files to write.
        extra: recorded as ``export.json["extra"]`` (e.g. architecture name, checkpoint, data).
        thresholds: parity limits (default :class:`ParityThresholds`).

    Raises:
        ExportError: a conversion step failed or an input is unusable.
        ParityError: a limit is broken (nothing is left under the final names).
    """
    t_start = time.perf_counter()
    thresholds = thresholds or ParityThresholds()
    precisions = tuple(precisions)
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ExportError(f"precisions must be some of {', '.join(PRECISIONS)}, got {list(precisions)}")
    out_dir = Path(out_dir)
    check_out_dir(out_dir, EXPORT_OUTPUTS)
    _check_inputs(net, calibration_images, "calibration_images")
    labelled = test_images is not None and test_labels is not None
    parity_images = test_images if test_images is not None else calibration_images
    _check_inputs(net, parity_images, "test_images")
    labels = test_labels.cpu().numpy() if labelled else None
    if labels is not None and labels.shape[0] != parity_images.shape[0]:
        raise ExportError(f"{parity_images.shape[0]} test images but {labels.shape[0]} labels")
    input_size = tuple(parity_images.shape[1:])
    images_np = parity_images.detach().float().contiguous().cpu().numpy()
    reference = _pytorch_logits(net, parity_images)
    threads = max(1, min(4, os.cpu_count() or 1))

    with atomic_dir(out_dir, own=EXPORT_OUTPUTS) as tmp:
        t0 = time.perf_counter()
        onnx_info = export_onnx(export_copy(net), tmp / ONNX_FILE, input_size)
        onnx_info.update(compare(reference, run_onnx(onnx_session(tmp / ONNX_FILE, threads), images_np), labels))
        broken = failures({"onnx": onnx_info}, thresholds)
        if broken:  # no point converting further
            raise ParityError(f"export of {type(net).__name__} rejected: {'; '.join(broken)}")
        t1 = time.perf_counter()
        paths = convert_to_tflite(tmp / ONNX_FILE, tmp, calibration_images.detach().cpu(), precisions)
        t2 = time.perf_counter()
        tflite = {}
        for precision in precisions:
            model = TFLiteModel(paths[precision], threads)
            entry = {"file": paths[precision].name, "bytes": paths[precision].stat().st_size,
                     "ops": op_counts(paths[precision]), **model.describe()}
            entry.update(compare(reference, model.predict(images_np), labels))
            if precision == "int8":
                entry["tensor_dtypes"] = tensor_dtypes(model.interpreter)
            tflite[precision] = entry
        t3 = time.perf_counter()
        report = {
            "model": {
                "class": type(net).__name__,
                "num_classes": int(reference.shape[1]),
                "params": int(sum(p.numel() for p in net.parameters())),
                "pytorch_bytes": int(sum(t.numel() * t.element_size() for t in net.state_dict().values())),
                "input": {"shape": [1, *input_size], "layout": "NCHW"},
            },
            "pytorch": {"test_accuracy": accuracy(reference, labels)},
            "onnx": onnx_info,
            "tflite": tflite,
            "parity": {
                "images": int(parity_images.shape[0]),
                "source": "test_images" if test_images is not None else "calibration_images",
                "labelled": labelled,
                "thresholds": thresholds.as_dict(),
            },
            "calibration": {"images": int(calibration_images.shape[0])},
            "seconds": {"onnx": t1 - t0, "onnx2tf": t2 - t1, "parity": t3 - t2},
            "extra": extra or {},
        }
        broken = _structural_failures(report, input_size) + failures(report, thresholds)
        report["parity"]["passed"] = not broken
        if broken:
            raise ParityError(f"export of {type(net).__name__} rejected: {'; '.join(broken)}")
        report["seconds"]["total"] = time.perf_counter() - t_start
        write_json_atomic(tmp / REPORT_FILE, report)
    return report
