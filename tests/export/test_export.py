"""The export bridge end to end: real torch.onnx, real onnx2tf, real ONNX Runtime and TFLite interpreter."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from export.bridge import export_model
from export.errors import ParityError
from export.parity import ParityThresholds
from export.names import QUANT_VARIANTS, tflite_file
from export.tflite_runtime import TFLiteModel, op_counts
from tests.helpers.export import EXPORT_ARCH, export_report, lightning_style_checkpoint

FILES = ["export.json", "labels.txt", "model.onnx", "model_float16.tflite", "model_float32.tflite"]


def test_export_writes_the_float_models_and_one_quantised_deliverable(exported):
    r = export_report(exported)
    deliverable = r["quantization"]["deliverable"]
    quantised = [tflite_file(deliverable)] if deliverable else []
    assert sorted(p.name for p in exported.iterdir()) == sorted(FILES + quantised)
    assert not list(exported.parent.glob(".out.*")), "temporary folder left beside the export"
    assert (exported / "labels.txt").read_text().splitlines() == r["labels"] == ["apple", "pear", "noise"]


def test_ladder_attempts_stop_at_the_first_that_passes(exported):
    q = export_report(exported)["quantization"]
    attempts = q["attempts"]
    assert [a["variant"] for a in attempts] == list(QUANT_VARIANTS[:len(attempts)])
    assert all(not a["passed"] and a["failures"] for a in attempts[:-1])
    if q["deliverable"]:
        assert attempts[-1]["passed"] and attempts[-1]["variant"] == q["deliverable"] and q["reason"] is None
    else:
        assert len(attempts) == len(QUANT_VARIANTS) and q["reason"]
    assert q["calibration_images"] > 100 and q["judged_on"] == "agreement_and_accuracy"
    for a in attempts:
        assert a["agreement_images"] > 300 and a["test_images"] > 50 and a["bytes"] > 0
        assert {"test_accuracy", "top1_agreement", "max_abs_diff", "mean_abs_diff", "cosine_min"} <= set(a)


def test_onnx_is_one_checked_file_with_static_batch_1(exported):
    assert not list(exported.glob("*.onnx.data"))
    model = onnx.load(str(exported / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 100, 100]


def test_parity_figures_within_thresholds(exported):
    r = export_report(exported)
    limits = ParityThresholds()
    assert r["extra"]["arch"] == EXPORT_ARCH and r["extra"]["checkpoint"].endswith("best.ckpt")
    # every image of the data, uncapped: tiny_fruits has 13 x (24 train + 8 test)
    assert r["parity"]["images"] == 13 * 32 and r["parity"]["test_images"] == 13 * 8 and r["parity"]["passed"]
    assert r["judged_on"] == "agreement_and_accuracy"
    assert r["onnx"]["max_abs_diff"] <= limits.float32_max_abs_diff
    assert r["tflite"]["float32"]["max_abs_diff"] <= limits.float32_max_abs_diff
    assert r["tflite"]["float16"]["max_abs_diff_probs"] <= limits.float16_max_abs_diff
    assert r["parity"]["thresholds"]["compared_on"]["float16"] == "softmax probabilities"
    for precision, e in r["tflite"].items():
        assert e["passed"] and e["agreement_images"] == 13 * 32 and e["test_images"] == 13 * 8
        assert e["test_accuracy"] is not None and e["bytes"] == (exported / e["file"]).stat().st_size
        assert e["gpu_delegate"]["compatible"] in (True, False) and "Analyzer" in e["gpu_delegate"]["tool"]
    if "int8" in r["tflite"]:
        q = r["tflite"]["int8"]
        assert q["top1_agreement"] >= limits.quantized_min_agreement
        assert q["test_accuracy"] >= r["tflite"]["float32"]["test_accuracy"] - limits.quantized_max_accuracy_drop
        assert q["bytes"] < r["tflite"]["float16"]["bytes"] < r["tflite"]["float32"]["bytes"]
    assert r["seconds"]["total"] > 0


def test_tflite_input_is_nhwc_and_float32_graph_has_no_transpose(exported):
    for entry in export_report(exported)["tflite"].values():
        model = TFLiteModel(exported / entry["file"])
        assert model.input_shape == [1, 100, 100, 3]
        assert model.interpreter.get_signature_list() == {"serving_default": {"inputs": ["input"], "outputs": ["logits"]}}
    ops = op_counts(exported / "model_float32.tflite")
    assert "TRANSPOSE" not in ops and ops.get("MEAN") == 1 and ops.get("CONV_2D", 0) > 0
    assert export_report(exported)["tflite"]["float32"]["ops"] == ops


def test_quantised_deliverable_is_what_its_name_says(exported):
    r = export_report(exported)
    if "int8" not in r["tflite"]:
        pytest.skip("no quantised variant passed on this data")
    variant = r["tflite"]["int8"]["variant"]
    model = TFLiteModel(exported / tflite_file(variant))
    dtypes = r["tflite"]["int8"]["tensor_dtypes"]
    if variant == "int8":
        assert model.is_quantized and np.dtype(model.input["dtype"]) == np.int8
        assert dtypes.get("int8", 0) > 20 and "float32" not in dtypes
    elif variant == "int16act":
        assert np.dtype(model.input["dtype"]) == np.int16 and dtypes.get("int8", 0) > 10
    else:
        assert not model.is_quantized and dtypes.get("int8", 0) > 5


def test_tflite_outputs_match_pytorch_on_an_image(exported, tiny_fruits):
    """Re-run one image through the saved float32 model and the checkpoint's PyTorch net."""
    from export.source import fruits360, load_checkpoint_model

    images = fruits360(tiny_fruits).sample_images(1)
    net = load_checkpoint_model(exported.parent / "best.ckpt").net
    with torch.no_grad():
        expected = net(images).numpy()
    got = TFLiteModel(exported / "model_float32.tflite").predict(images.numpy())
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_failed_parity_check_leaves_nothing(tmp_path, tiny_fruits):
    from datamodules import Fruits360DataModule
    from export.source import fresh_model

    dm = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=8, augment=False)
    out = tmp_path / "export"
    with pytest.raises(ParityError, match="max abs diff"):
        export_model(fresh_model("alexnet").net, out, dm.sample_images(4, "train"), precisions=("float32",),
                     thresholds=ParityThresholds(float32_max_abs_diff=0.0))
    assert list(tmp_path.iterdir()) == []


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    return lines[0]


def _bad(capsys, *args: str) -> str:
    """``cli.main`` in this process (the exit code ``python cli.py`` would return, and its stderr)."""
    import cli

    capsys.readouterr()
    assert cli.main(["export", *args]) == 2
    return _one_error_line(capsys.readouterr().err)


def test_corrupt_checkpoint_exits_2_and_writes_nothing(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint at all")
    assert "corrupt.ckpt is not a readable PyTorch checkpoint" in _bad(capsys, "--ckpt", str(corrupt), "--out",
                                                                        str(tmp_path / "out"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.ckpt"]


def test_bad_inputs_exit_2_with_one_line(tmp_path, tiny_fruits, capsys):
    out = tmp_path / "out"
    assert "does not exist" in _bad(capsys, "--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(out))
    ckpt = lightning_style_checkpoint(tmp_path / "alexnet.ckpt", "alexnet", tiny_fruits)
    wrong_arch = _bad(capsys, "--ckpt", str(ckpt), "--arch", "mobilenet_v1", "--out", str(out))
    assert "holds architecture 'alexnet', not 'mobilenet_v1'" in wrong_arch
    assert "unknown architecture 'resnet50'" in _bad(capsys, "--arch", "resnet50", "--out", str(out))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert "is a file" in _bad(capsys, "--arch", "alexnet", "--data-root", str(tiny_fruits), "--out", str(a_file))
    other = tmp_path / "not_an_export"
    (other / "keep").mkdir(parents=True)
    assert "holds 'keep', which orchard did not write" in _bad(capsys, "--arch", "alexnet", "--data-root", str(tiny_fruits), "--out", str(other))
    assert "does not exist" in _bad(capsys, "--arch", "alexnet", "--data-root", str(tmp_path / "nodata"), "--out", str(out))
    assert not out.exists() and a_file.read_text() == "x" and (other / "keep").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "alexnet.ckpt", "not_an_export"]
