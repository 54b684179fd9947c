"""PyTorch -> one self-contained ONNX file (static batch 1), checked with the ONNX checker."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from .errors import ExportError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(net: nn.Module, path: str | Path, input_size: tuple[int, int, int] = (3, 100, 100)) -> dict:
    """Write ``net`` to ``path`` as a single ONNX file and check it.

    Uses torch's dynamo exporter with ``external_data=False`` so the weights live inside
    the ``.onnx`` file (no ``.onnx.data`` beside it). Returns a description of the file.
    """
    import onnx

    path = Path(path)
    example = torch.zeros(1, *input_size)
    try:
        with _quiet():
            torch.onnx.export(
                net, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamo=True, external_data=False, optimize=True, verbose=False,
            )
    except Exception as e:  # the exporter raises many types; keep the first line
        raise ExportError(f"ONNX export of {type(net).__name__} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    leftovers = [p.name for p in path.parent.glob(f"{path.name}.data")]
    if leftovers:
        raise ExportError(f"ONNX export wrote external weights {leftovers} beside {path}; expected one file")
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"{path} fails the ONNX checker: {str(e).splitlines()[0]}") from e
    return describe_onnx(model, path)


def describe_onnx(model, path: Path) -> dict:
    """File size, opset, op counts and input/output shapes of an ONNX model."""
    def shape(value_info) -> list[int | str]:
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]

    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "ops": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        "input": {"name": model.graph.input[0].name, "shape": shape(model.graph.input[0]), "layout": "NCHW"},
        "output": {"name": model.graph.output[0].name, "shape": shape(model.graph.output[0])},
    }


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress prints and warnings (errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
