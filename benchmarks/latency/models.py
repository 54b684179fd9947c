"""What the latency benchmark times: exported models found on disk, or the four architectures exported now."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from common.errors import OrchardError, one_line
from export.bridge import ONNX_FILE, REPORT_FILE
from export.tflite_runtime import check_tflite_file, load_interpreter


@dataclass
class LatencyModel:
    """One network and its files.

    Args:
        name: architecture name (or the file's stem when no ``export.json`` is beside it).
        tflite: precision -> ``.tflite`` file.
        onnx: the ONNX file for the ONNX Runtime comparison, if known.
        net: the PyTorch network for the eager comparison, if known.
        export: the ``export.json`` of the folder, if any.
        weights: ``checkpoint`` or ``fresh`` (latency does not depend on the values).
        variants: precision -> what the file is (``int8`` means the int8 deliverable, which may be
            ``int8``, ``int16act`` or ``dynamic``; other precisions are themselves).
        missing: precision asked for -> why the export has no such file (e.g. every int8 attempt
            missed its gate).
    """

    name: str
    tflite: dict[str, Path] = field(default_factory=dict)
    onnx: Path | None = None
    net: nn.Module | None = None
    export: dict | None = None
    weights: str | None = None
    variants: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def variant(self, precision: str) -> str:
        """What the file timed as ``precision`` is (``int16act`` for an int8 deliverable with int16 activations)."""
        return self.variants.get(precision, precision)

    @property
    def labels(self) -> list[str] | None:
        """Class names in output order, from ``export.json`` (``None`` when unknown)."""
        if not self.export:
            return None
        return self.export.get("labels") or self.export.get("extra", {}).get("data", {}).get("classes")

    @property
    def params(self) -> int | None:
        if self.export:
            return self.export["model"]["params"]
        return int(sum(p.numel() for p in self.net.parameters())) if self.net is not None else None

    def accuracy(self, runtime: str, precision: str) -> float | None:
        """Test accuracy recorded at export time for one runtime/precision."""
        if not self.export:
            return None
        if runtime == "pytorch":
            return self.export["pytorch"].get("test_accuracy")
        if runtime == "onnxruntime":
            return self.export["onnx"].get("test_accuracy")
        return self.export["tflite"].get(precision, {}).get("test_accuracy")

    def bytes(self, runtime: str, precision: str) -> int | None:
        if runtime == "tflite":
            return self.tflite[precision].stat().st_size
        if runtime == "onnxruntime":
            return self.onnx.stat().st_size if self.onnx else None
        if self.export:
            return self.export["model"].get("pytorch_bytes")
        return int(sum(t.numel() * t.element_size() for t in self.net.state_dict().values())) if self.net is not None else None


def infer_variant(path: Path) -> tuple[str, str]:
    """``(precision, variant)`` read from the model: integer input -> ``int8`` (variant ``int8``, or
    ``int16act`` for int16 tensors); float input with int8 weights -> ``int8`` / ``dynamic``;
    float16 weights -> ``float16``; else ``float32``."""
    interpreter = load_interpreter(path, 1, delegates=False)
    input_dtype = np.dtype(interpreter.get_input_details()[0]["dtype"])
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    if input_dtype.kind in "iu" or "int16" in dtypes:
        return "int8", "int16act" if input_dtype.itemsize == 2 or "int16" in dtypes else "int8"
    if "int8" in dtypes:
        return "int8", "dynamic"
    return ("float16", "float16") if "float16" in dtypes else ("float32", "float32")


def failure(model: str, stage: str, error: BaseException) -> dict:
    """A row for a model that could not be trained, exported, loaded or timed: what, where, why (one line)."""
    return {"model": model, "stage": stage, "reason": one_line(error), "error": type(error).__name__}


def _network_for(report: dict) -> tuple[nn.Module | None, str | None]:
    """The PyTorch twin of an export: its checkpoint when it still exists, else fresh weights."""
    from export.source import fresh_model, load_checkpoint_model

    extra = report.get("extra", {})
    arch, ckpt = extra.get("arch"), extra.get("checkpoint")
    if ckpt and Path(ckpt).is_file():
        return load_checkpoint_model(ckpt, arch).net, "checkpoint"
    if arch:
        return fresh_model(arch, report["model"]["num_classes"]).net, "fresh"
    return None, None


def from_export_dir(folder: str | Path, precisions: tuple[str, ...] | None = None) -> LatencyModel:
    """A folder written by ``cli.py export`` (``export.json`` + models)."""
    folder = Path(folder)
    report_path = folder / REPORT_FILE
    if not report_path.is_file():
        raise OrchardError(f"{folder} is not an export folder (no {REPORT_FILE}); give .tflite files or an export folder")
    try:
        report = json.loads(report_path.read_text())
        entries = report["tflite"]
    except (ValueError, KeyError) as e:
        raise OrchardError(f"{report_path} is not a readable export report ({type(e).__name__}: {e})") from None
    files = {p: folder / e["file"] for p, e in entries.items() if precisions is None or p in precisions}
    for path in files.values():
        check_tflite_file(path)
    variants = {p: e.get("variant", p) for p, e in entries.items()}
    quantization = report.get("quantization") or {}
    missing = {p: (quantization.get("reason") if p == "int8" else None) or f"{report_path} lists no {p} model"
               for p in precisions or () if p not in entries}
    net, weights = _network_for(report)
    onnx = folder / ONNX_FILE
    return LatencyModel(report.get("extra", {}).get("arch", folder.name), files, onnx if onnx.is_file() else None,
                        net, report, weights, variants, missing)


def _add_file(models: dict[Path, LatencyModel], path: Path) -> None:
    """Add one ``.tflite`` file: to its export folder's model when ``export.json`` is beside it."""
    check_tflite_file(path)
    folder = path.parent.resolve()
    if (folder / REPORT_FILE).is_file():
        model = models.get(folder) or from_export_dir(folder, ())
        precision = next((p for p, e in model.export["tflite"].items() if e["file"] == path.name), None)
        if precision is None:
            precision, variant = infer_variant(path)
            model.variants[precision] = variant
        model.tflite[precision] = path
        models[folder] = model
    else:
        precision, variant = infer_variant(path)
        models[path.resolve()] = LatencyModel(path.stem, {precision: path}, variants={precision: variant})


def from_paths(paths: list[str | Path], precisions: tuple[str, ...] | None = None) -> tuple[list[LatencyModel], list[dict]]:
    """Models for ``.tflite`` files and export folders given on the command line, and a failure row
    (see :func:`failure`) for each path that cannot be read; the others are still returned.

    ``.tflite`` files from one export folder are grouped into one model (named by its
    ``export.json``); a file with no ``export.json`` beside it is timed on TFLite alone.
    """
    models: dict[Path, LatencyModel] = {}
    failures = []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                models[path.resolve()] = from_export_dir(path, precisions)
            else:
                _add_file(models, path)
        except Exception as e:  # noqa: BLE001 - one unreadable file is reported beside the others' figures
            failures.append(failure(str(path), "load", e))
    return list(models.values()), failures
