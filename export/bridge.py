"""``export_model``: an OrchardNet -> ``model.onnx`` + float32/float16/quantised ``.tflite`` + ``export.json``.

Every exported model runs on the same real images as PyTorch (ONNX Runtime and the TFLite
interpreter): top-1 agreement on every image the data has, accuracy on its labelled test split.
float32/float16 must match PyTorch's logits/probabilities (else :class:`~export.errors.ParityError`
and nothing appears under the final folder name). The quantised model climbs a ladder
(full-integer int8 -> int8 weights with int16 activations -> dynamic range) and the first variant
that passes its gate is kept as the deliverable; when none passes, the float models are still
written and ``export.json["quantization"]["reason"]`` says why.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.atomic import atomic_dir, check_out_dir, write_json_atomic, write_text_atomic

from .errors import ExportError, NotTFLiteError, ParityError
from .evaluation import EvalSet, onnx_logits, pytorch_logits, tflite_logits
from .export_friendly import export_copy
from .gpu_check import gpu_delegate_verdict
from .metadata import INPUT_NAME, LABELS_FILE, OUTPUT_NAME, SIGNATURE_KEY, name_signature, write_metadata
from .names import EXPORT_OUTPUTS, ONNX_FILE, PRECISIONS, QUANT_VARIANTS, REPORT_FILE
from .onnx_export import export_onnx
from .parity import ParityThresholds, accuracy, compare, failures, quantized_failures
from .tflite_convert import onnx2tf_job
from .tflite_runtime import TFLiteModel, op_counts, tensor_dtypes

ONNX_PARITY_IMAGES = 500  # ONNX Runtime runs batch 1; the float32 TFLite model is checked on all images
JUDGED_ON = {False: "agreement_and_accuracy", True: "output_closeness_fresh_weights"}


def _check_inputs(net: nn.Module, images: torch.Tensor, what: str) -> None:
    expected = tuple(getattr(net, "input_size", images.shape[1:]))
    if images.ndim != 4 or tuple(images.shape[1:]) != expected or images.shape[0] < 1:
        raise ExportError(f"{what} must be N x {' x '.join(map(str, expected))} float images, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ExportError(f"{what} must be normalised float images, got dtype {images.dtype}")


def _structural_failures(tflite: dict, input_size: tuple[int, int, int]) -> list[str]:
    out = []
    channels, height, width = input_size
    for precision, entry in tflite.items():
        if entry["input"]["shape"] != [1, height, width, channels]:
            out.append(f"TFLite {precision} input shape {entry['input']['shape']} is not NHWC [1, {height}, {width}, {channels}]")
    if "TRANSPOSE" in tflite.get("float32", {}).get("ops", {}):
        out.append("a TRANSPOSE op remains in the float32 TFLite graph")
    return out


def _weights_digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def model_metadata(model: TFLiteModel, variant: str, info: dict) -> dict:
    """What one ``.tflite`` carries about itself (see :mod:`export.metadata`)."""
    described = model.describe()
    return {
        "name": info["name"],
        "version": info["version"],
        "arch": info["arch"],
        "variant": variant,
        "labels": info["labels"],
        "grouping": info.get("grouping"),
        "input": {"name": INPUT_NAME, "layout": "NHWC", "shape": described["input"]["shape"],
                  "dtype": described["input"]["dtype"], "color": "RGB",
                  "mean": info["mean"], "std": info["std"],
                  "normalisation": "x = (pixels / 255 - mean) / std, then quantised with scale/zero_point when given",
                  "quantization": described["input"].get("quantization")},
        "output": {"name": OUTPUT_NAME, "shape": described["output"]["shape"], "dtype": described["output"]["dtype"],
                   "meaning": "logits (apply softmax for probabilities)",
                   "quantization": described["output"].get("quantization")},
        "signature": {"key": SIGNATURE_KEY, "input": INPUT_NAME, "output": OUTPUT_NAME},
        "source": info.get("source"),
    }


def _evaluate(path: Path, variant: str, data: EvalSet, reference: np.ndarray, labels: np.ndarray | None,
              threads: int) -> dict:
    model = TFLiteModel(path, threads)
    entry = {"file": path.name, "variant": variant, "bytes": path.stat().st_size, "ops": op_counts(path),
             **model.describe()}
    if variant in QUANT_VARIANTS:
        entry["tensor_dtypes"] = tensor_dtypes(model.interpreter)
    entry.update(compare(reference, tflite_logits(path, data, threads), labels))
    return entry


def export_model(
    net: nn.Module,
    out_dir: str | Path,
    calibration_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    precisions=PRECISIONS,
    extra: dict | None = None,
    *,
    thresholds: ParityThresholds | None = None,
    data: EvalSet | None = None,
    fresh_weights: bool = False,
    info: dict | None = None,
) -> dict:
    """Export ``net`` to ONNX and TFLite in ``out_dir``, judge every model, return ``export.json``'s dict.

    Args:
        net: an OrchardNet (its training mode is restored afterwards; it is not modified).
        out_dir: the export folder; written atomically (built beside it, renamed on success;
            an earlier export there is replaced; any folder holding other files is refused).
        calibration_images: normalised float NCHW real training images the quantised variants
            are calibrated on.
        test_images, test_labels: normalised float NCHW images (and their labels) to judge on,
            when ``data`` is not given (default: the calibration images).
        precisions: which of ``float32``, ``float16``, ``int8`` to write (``int8`` = the
            quantised deliverable, climbing the fallback ladder).
        extra: recorded as ``export.json["extra"]`` (architecture name, checkpoint, data).
        thresholds: the gates (default :class:`ParityThresholds`).
        data: every real image to judge on, the labelled test split first (see
            :func:`export.evaluation.eval_set`).
        fresh_weights: untrained weights: quantised models are judged on output closeness.
        info: what each ``.tflite`` carries: ``labels``, ``mean``, ``std``, ``grouping``,
            ``name`` (defaults: ``class_<i>``, 0.5, 0.5).

    Raises:
        ExportError: a conversion step failed or an input is unusable.
        ParityError: ONNX, float32 or float16 broke a limit (nothing is left under the final names).
    """
    t_start = time.perf_counter()
    thresholds = thresholds or ParityThresholds()
    precisions = tuple(precisions)
    extra = dict(extra or {})
    arch = extra.get("arch") or type(net).__name__
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ExportError(f"precisions must be some of {', '.join(PRECISIONS)}, got {list(precisions)}")
    out_dir = Path(out_dir)
    check_out_dir(out_dir, EXPORT_OUTPUTS)
    _check_inputs(net, calibration_images, "calibration_images")
    if data is None:
        images = test_images if test_images is not None else calibration_images
        _check_inputs(net, images, "test_images")
        if test_labels is not None and test_labels.shape[0] != images.shape[0]:
            raise ExportError(f"{images.shape[0]} test images but {test_labels.shape[0]} labels")
        data = EvalSet.from_tensors(images, test_labels if test_images is not None else None)
    input_size = tuple(int(s) for s in data.input_size)
    expected = tuple(getattr(net, "input_size", input_size))
    if input_size != expected:
        raise ExportError(f"images are {input_size}, {arch} takes {expected}")
    labels = data.labels.cpu().numpy() if data.labels is not None else None
    threads = max(1, os.cpu_count() or 1)
    info = dict(info or {})
    info.setdefault("arch", arch)
    info.setdefault("name", f"orchard {arch}")
    info.setdefault("version", _weights_digest(net))
    info.setdefault("mean", [0.5, 0.5, 0.5])
    info.setdefault("std", [0.5, 0.5, 0.5])
    info.setdefault("source", {k: extra.get(k) for k in ("checkpoint", "fresh_weights") if k in extra})
    what = f"export of {arch}"
    variants = tuple(p for p in ("float32", "float16") if p in precisions)
    if "int8" in precisions:
        variants += QUANT_VARIANTS

    with atomic_dir(out_dir, own=EXPORT_OUTPUTS) as tmp:
        t0 = time.perf_counter()
        onnx_info = export_onnx(export_copy(net), tmp / ONNX_FILE, input_size)
        t1 = time.perf_counter()
        # onnx2tf converts in its own process (about one core's work) while PyTorch and ONNX Runtime
        # run here on the other cores
        with onnx2tf_job(tmp / ONNX_FILE, tmp, calibration_images.detach().cpu(), variants) as conversion:
            reference = pytorch_logits(net, data, threads=max(1, threads - 1))
            num_classes = int(reference.shape[1])
            info.setdefault("labels", [f"class_{i}" for i in range(num_classes)])
            if len(info["labels"]) != num_classes:
                raise ExportError(f"{len(info['labels'])} labels for {num_classes} outputs of {arch}")
            t2 = time.perf_counter()
            n_onnx = min(len(data), ONNX_PARITY_IMAGES)
            onnx_info.update(compare(reference[:n_onnx], onnx_logits(tmp / ONNX_FILE, data, n_onnx, threads),
                                     labels if labels is not None and len(labels) <= n_onnx else None))
            broken = failures({"onnx": onnx_info}, thresholds)
            if broken:  # no point waiting for the conversion
                raise ParityError(f"{what} rejected: {'; '.join(broken)}")
            t3 = time.perf_counter()
            paths = conversion()
        t4 = time.perf_counter()
        seconds = {"onnx_export": t1 - t0, "pytorch": t2 - t1, "onnx_runtime": t3 - t2,
                   "onnx2tf_wait": t4 - t3, "onnx2tf": t4 - t1}
        for variant, path in paths.items():
            name_signature(path, f"{info['name']} ({variant}), {num_classes} classes: {', '.join(info['labels'])}")
        tflite = {}
        for precision in ("float32", "float16"):
            if precision in paths:
                tflite[precision] = _evaluate(paths[precision], precision, data, reference, labels, threads)
        broken = _structural_failures(tflite, input_size) + failures({"tflite": tflite}, thresholds)
        if broken:
            raise ParityError(f"{what} rejected: {'; '.join(broken)}")
        for entry in tflite.values():
            entry["passed"] = True
        pytorch_accuracy = accuracy(reference[:len(labels)], labels) if labels is not None else None
        float32_accuracy = tflite["float32"]["test_accuracy"] if "float32" in tflite else pytorch_accuracy
        quantization = _climb_ladder(paths, data, reference, labels, threads, thresholds, fresh_weights,
                                     float32_accuracy, tflite)
        quantization["calibration_images"] = int(calibration_images.shape[0])
        if "int8" in precisions and quantization["deliverable"] is None:
            quantization["reason"] = (f"no quantised variant of {arch} passed the gate: " + "; ".join(
                f"{a['variant']}: {', '.join(a['failures'])}" for a in quantization["attempts"]))
        t5 = time.perf_counter()
        for precision, entry in tflite.items():
            path = tmp / entry["file"]
            entry["gpu_delegate"] = gpu_delegate_verdict(path)
            write_metadata(path, model_metadata(TFLiteModel(path, 1), entry["variant"], info))
            entry["bytes"] = path.stat().st_size
        if quantization["deliverable"]:  # its attempt shows the file as delivered, metadata included
            quantization["attempts"][-1]["bytes"] = tflite["int8"]["bytes"]
        write_text_atomic(tmp / LABELS_FILE, "".join(f"{label}\n" for label in info["labels"]))
        report = {
            "model": {
                "class": type(net).__name__,
                "arch": arch,
                "num_classes": num_classes,
                "params": int(sum(p.numel() for p in net.parameters())),
                "pytorch_bytes": int(sum(t.numel() * t.element_size() for t in net.state_dict().values())),
                "input": {"shape": [1, *input_size], "layout": "NCHW"},
            },
            "labels": info["labels"],
            "metadata": {k: info[k] for k in ("name", "version", "mean", "std", "grouping") if k in info},
            "judged_on": JUDGED_ON[bool(fresh_weights)],
            "pytorch": {"test_accuracy": pytorch_accuracy, "test_images": data.n_test},
            "onnx": onnx_info,
            "tflite": tflite,
            "quantization": quantization,
            "parity": {
                "images": len(data),
                "sources": data.sources,
                "test_images": data.n_test,
                "source": "data" if "given" not in data.sources else "test_images",
                "labelled": labels is not None,
                "onnx_images": n_onnx,
                "thresholds": thresholds.as_dict(),
                "passed": True,
            },
            "calibration": {"images": int(calibration_images.shape[0])},
            "seconds": {**seconds, "judge_tflite": t5 - t4, "metadata": time.perf_counter() - t5},
            "extra": extra,
        }
        report["seconds"]["total"] = time.perf_counter() - t_start
        write_json_atomic(tmp / REPORT_FILE, report)
    return report


def _climb_ladder(paths: dict[str, Path], data: EvalSet, reference: np.ndarray, labels: np.ndarray | None,
                  threads: int, thresholds: ParityThresholds, fresh_weights: bool, float32_accuracy: float | None,
                  tflite: dict) -> dict:
    """Judge the quantised variants in ladder order; keep the first that passes as ``tflite["int8"]``.

    Every other variant's file is deleted (its figures stay in ``attempts``), so the folder
    holds one quantised model, the one that passed.
    """
    gate = {"min_agreement": thresholds.quantized_min_agreement,
            "max_accuracy_drop": thresholds.quantized_max_accuracy_drop,
            "float32_test_accuracy": float32_accuracy}
    if fresh_weights:
        gate = {"min_cosine": thresholds.fresh_min_cosine}
    quantization = {"deliverable": None, "reason": None, "judged_on": JUDGED_ON[bool(fresh_weights)], "gate": gate,
                    "ladder": list(QUANT_VARIANTS), "attempts": []}
    for variant in QUANT_VARIANTS:
        if variant not in paths:
            continue
        if quantization["deliverable"] is None:
            try:
                entry = _evaluate(paths[variant], variant, data, reference, labels, threads)
                entry["failures"] = quantized_failures(entry, float32_accuracy, thresholds, fresh_weights)
            except NotTFLiteError as e:  # e.g. a quantisation the kernels refuse (int16 overflow)
                entry = {"file": paths[variant].name, "variant": variant, "bytes": paths[variant].stat().st_size,
                         "failures": [f"the TFLite interpreter cannot run it: {str(e).split(': ', 1)[-1]}"]}
            entry["passed"] = not entry["failures"]
            quantization["attempts"].append({k: v for k, v in entry.items() if k not in ("ops", "input", "output")})
            if entry["passed"]:
                quantization["deliverable"] = variant
                tflite["int8"] = entry
                continue
        paths[variant].unlink()
    return quantization
