"""A truncated or foreign file given as a TFLite model stops in one line, never crashes the interpreter."""
from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from export.errors import NotTFLiteError
from export.tflite_check import check_tflite_structure
from export.tflite_runtime import TFLiteModel
from tests.conftest import run_cli

WIDTH = 2048  # a constant of this many floats: the weights make up most of the file, as in a real model


def add_model(path: Path) -> Path:
    """A real TFLite flatbuffer built with TFLite's own schema: ``output = input + constant`` on ``1 x WIDTH`` floats."""
    from ai_edge_litert import schema_py_generated as schema

    def tensor(name: str, buffer: int) -> "schema.TensorT":
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, WIDTH], schema.TensorType.FLOAT32, buffer
        return t

    constant = schema.BufferT()
    constant.data = np.arange(WIDTH, dtype=np.float32).view(np.uint8).tolist()
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    graph = schema.SubGraphT()
    graph.tensors = [tensor("input", 0), tensor("constant", 1), tensor("output", 0)]
    graph.inputs, graph.outputs, graph.operators = [0], [2], [op]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [schema.BufferT(), constant]
    builder = flatbuffers.Builder(4 * WIDTH + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


@pytest.fixture
def model_file(tmp_path) -> Path:
    return add_model(tmp_path / "add.tflite")


def test_a_complete_model_passes_and_runs(model_file):
    assert check_tflite_structure(model_file) == model_file
    model = TFLiteModel(model_file)
    model.interpreter.set_tensor(model.input["index"], np.ones((1, WIDTH), np.float32))
    model.invoke()
    assert np.allclose(model.get_output(), np.arange(WIDTH) + 1)


def test_every_truncation_is_refused_in_one_line(model_file, tmp_path):
    data = model_file.read_bytes()
    cut = tmp_path / "cut.tflite"
    for size in sorted({0, 7, 8, 16, 64, *range(100, len(data), max(len(data) // 97, 1)), len(data) - 1}):
        cut.write_bytes(data[:size])
        with pytest.raises(NotTFLiteError) as error:
            check_tflite_structure(cut)
        assert str(error.value).startswith(str(cut)) and "\n" not in str(error.value)


def test_foreign_and_damaged_files_are_refused(model_file, tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("not a model at all, just some words")
    with pytest.raises(NotTFLiteError, match="no TFL3 flatbuffer identifier"):
        check_tflite_structure(text)
    with pytest.raises(NotTFLiteError, match="does not exist"):
        check_tflite_structure(tmp_path / "missing.tflite")
    damaged = bytearray(model_file.read_bytes())
    damaged[0:4] = (len(damaged) + 100).to_bytes(4, "little")  # root table beyond the end
    (tmp_path / "damaged.tflite").write_bytes(bytes(damaged))
    with pytest.raises(NotTFLiteError, match="damaged or truncated"):
        TFLiteModel(tmp_path / "damaged.tflite")


def test_benchmark_latency_on_half_a_model_says_one_line_and_leaves_nothing(model_file, tmp_path):
    half = tmp_path / "half.tflite"
    half.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    out = tmp_path / "reports" / "latency"
    r = run_cli("benchmark", "latency", str(half), "--out", str(out), "--runs", "2", "--warmup", "1")
    assert r.returncode == 2, r.stderr[-2000:]  # not 139 (a segmentation fault in the interpreter)
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "damaged or truncated TFLite model" in errors[0] and "Traceback" not in r.stderr
    leftovers = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
    assert leftovers == []  # no results folder, no hidden temporary one
