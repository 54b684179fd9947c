"""A .tflite that describes itself: metadata round trip, named signature, GPU delegate verdicts."""
from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

from export.errors import NotTFLiteError
from export.gpu_check import parse_report
from export.metadata import MetadataError, read_metadata, strip_metadata, write_metadata
from export.tflite_runtime import TFLiteModel
from tests.helpers.export import export_report

META = {"name": "orchard test", "version": "abc", "arch": "mobilenet_v2", "labels": ["apple", "pear", "noise"],
        "input": {"layout": "NHWC", "shape": [1, 100, 100, 3], "mean": [0.5] * 3, "std": [0.5] * 3,
                  "quantization": None}, "output": {"quantization": None}}


def _logits(path, image):
    model = TFLiteModel(path)
    model.set_input(image)
    model.invoke()
    return model.get_output()


def test_exported_models_carry_labels_normalisation_and_quantisation(exported):
    r = export_report(exported)
    for precision, entry in r["tflite"].items():
        meta = read_metadata(exported / entry["file"])
        assert meta["labels"] == r["labels"] == ["apple", "pear", "noise"]
        assert meta["arch"] == "mobilenet_v2" and meta["variant"] == entry["variant"] and meta["name"]
        assert meta["version"] == r["metadata"]["version"] and meta["grouping"] == "apple_pear_noise"
        assert meta["input"]["layout"] == "NHWC" and meta["input"]["shape"] == [1, 100, 100, 3]
        assert meta["input"]["mean"] == [0.5] * 3 and meta["input"]["std"] == [0.5] * 3
        assert meta["signature"] == {"key": "serving_default", "input": "input", "output": "logits"}
        quantized = TFLiteModel(exported / entry["file"]).is_quantized
        assert (meta["input"]["quantization"] is not None) == quantized
        if quantized:
            assert meta["input"]["quantization"] == entry["input"]["quantization"]
        names = zipfile.ZipFile(exported / entry["file"]).namelist()
        assert sorted(names) == ["labels.txt", "metadata.json"]


def test_metadata_round_trip_keeps_the_model_loadable_and_unchanged(exported, tmp_path):
    path = tmp_path / "m.tflite"
    shutil.copyfile(exported / "model_float32.tflite", path)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 100, 100, 3)).astype(np.float32)
    before = _logits(path, image)
    write_metadata(path, {**META, "labels": ["a", "b", "c"]})  # replaces the archive, does not stack a second
    assert read_metadata(path)["labels"] == ["a", "b", "c"] and read_metadata(path)["name"] == "orchard test"
    assert len(zipfile.ZipFile(path).namelist()) == 2
    np.testing.assert_array_equal(_logits(path, image), before)
    strip_metadata(path)
    with pytest.raises(MetadataError, match="carries no orchard metadata"):
        read_metadata(path)
    np.testing.assert_array_equal(_logits(path, image), before)
    with pytest.raises(ValueError, match="lacks"):
        write_metadata(path, {"name": "x"})
    assert issubclass(MetadataError, NotTFLiteError)


def test_gpu_analyzer_report_is_parsed():
    ok = "Subgraph#0 main(T#0) -> [T#2]\n  Op#0 CONV_2D(T#0, T#1) -> [T#2]\n\n" \
         "Your model looks compatible with GPU delegate on TFLite runtime version 2.21.0.\n"
    assert parse_report(ok)["compatible"] is True and parse_report(ok)["flagged_ops"] == []
    bad = ("Subgraph#0 main(T#0) -> [T#3]\n  Op#0 CONV_2D(T#0, T#1) -> [T#2]\n"
           "  Op#1 FULLY_CONNECTED(T#2, T#4) -> [T#3]\n"
           "GPU COMPATIBILITY WARNING: Not supported data type INT16\n\n"
           "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 1 with TFLite runtime\n")
    verdict = parse_report(bad)
    assert verdict["compatible"] is False
    assert verdict["flagged_ops"] == [{"op": "FULLY_CONNECTED", "index": 1, "reason": "Not supported data type INT16"}]
    assert verdict["summary"].startswith("Subgraph#0 has GPU delegate compatibility issues")
