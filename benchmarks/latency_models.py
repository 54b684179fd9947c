"""What the latency benchmark times: exported models found on disk, or the four architectures exported now."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from common.errors import OrchardError
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
    """

    name: str
    tflite: dict[str, Path] = field(default_factory=dict)
    onnx: Path | None = None
    net: nn.Module | None = None
    export: dict | None = None
    weights: str | None = None

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


def infer_precision(path: Path) -> str:
    """``int8`` (integer input), ``float16`` (float16 weights) or ``float32``, read from the model."""
    interpreter = load_interpreter(path, 1, delegates=False)
    if np.dtype(interpreter.get_input_details()[0]["dtype"]).kind in "iu":
        return "int8"
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    return "float16" if "float16" in dtypes else "float32"


def _network_for(report: dict) -> tuple[nn.Module | None, str | None]:
    """The PyTorch twin of an export: its checkpoint when it still exists, else fresh weights."""
    from export.model_source import fresh_model, load_checkpoint_model

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
    report = json.loads(report_path.read_text())
    files = {p: folder / e["file"] for p, e in report["tflite"].items() if precisions is None or p in precisions}
    for path in files.values():
        check_tflite_file(path)
    net, weights = _network_for(report)
    onnx = folder / ONNX_FILE
    return LatencyModel(report.get("extra", {}).get("arch", folder.name), files, onnx if onnx.is_file() else None,
                        net, report, weights)


def from_paths(paths: list[str | Path], precisions: tuple[str, ...] | None = None) -> list[LatencyModel]:
    """Models for ``.tflite`` files and export folders given on the command line.

    ``.tflite`` files from one export folder are grouped into one model (named by its
    ``export.json``); a file with no ``export.json`` beside it is timed on TFLite alone.
    """
    models: dict[Path, LatencyModel] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            models[path.resolve()] = from_export_dir(path, precisions)
            continue
        check_tflite_file(path)
        folder = path.parent.resolve()
        if (folder / REPORT_FILE).is_file():
            report = json.loads((folder / REPORT_FILE).read_text())
            precision = next((p for p, e in report["tflite"].items() if e["file"] == path.name), None) or infer_precision(path)
            model = models.get(folder) or from_export_dir(folder, ())
            model.tflite[precision] = path
            models[folder] = model
        else:
            key = path.resolve()
            models[key] = LatencyModel(path.stem, {infer_precision(path): path})
    return list(models.values())
