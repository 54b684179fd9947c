"""``benchmark latency`` and ``experiment latency`` with the real interpreters, on a tiny scale."""
from __future__ import annotations

import json

from benchmarks.latency_timing import round_ms, summarise, time_calls
from tests._export_helpers import EXPORT_ARCH, exported  # noqa: F401
from tests.conftest import run_cli

RESULT_KEYS = {"model", "runtime", "precision", "threads", "runs_ms", "mean_ms", "median_ms", "p90_ms", "std_ms",
               "min_ms", "max_ms", "params", "bytes"}


def on_grid(x: float) -> bool:
    return abs(x * 100 - round(x * 100)) < 1e-6


def test_rounding_and_summary():
    assert round_ms(1_234_567) == 1.23 and round_ms(5_000) == 0.01 and round_ms(4_000) == 0.0
    s = summarise([1.0, 2.0, 3.0, 4.0, 10.0])
    assert s == {"mean_ms": 4.0, "median_ms": 3.0, "p90_ms": 7.6, "std_ms": 3.162, "min_ms": 1.0, "max_ms": 10.0}
    calls = []
    runs = time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(runs) == 7 and len(calls) == 10 and all(on_grid(r) for r in runs)


def test_benchmark_an_export_folder(exported, tmp_path):
    out = tmp_path / "latency"
    proc = run_cli("benchmark", "latency", str(exported), "--runs", "5", "--warmup", "1", "--threads", "1", "2",
                   "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["latency.png", "report.md", "results.json"]
    results = json.loads((out / "results.json").read_text())
    assert {"cpu", "cores"} <= set(results["machine"])
    rows = results["results"]
    combos = {(r["runtime"], r["precision"], r["threads"]) for r in rows}
    assert combos == {(rt, p, t) for t in (1, 2) for rt, p in
                      [("tflite", "float32"), ("tflite", "int8"), ("onnxruntime", "float32"), ("pytorch", "float32")]}
    for r in rows:
        assert RESULT_KEYS <= set(r) and r["model"] == EXPORT_ARCH and r["params"] == 98_379
        assert len(r["runs_ms"]) == 5 and all(on_grid(x) for x in r["runs_ms"])
        assert r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"] and r["bytes"] > 0
    int8 = next(r for r in rows if r["precision"] == "int8")
    assert int8["bytes"] == (exported / "model_int8.tflite").stat().st_size
    report = (out / "report.md").read_text()
    assert "paper value not given" in report and "| mobilenet_v2 | 98,379 | 98,379 |" in report
    adb = [c for c in results["android"]["commands"] if "benchmark_model --graph" in c]
    assert len(adb) == 4 and all("--num_runs=5" in c and "--warmup_runs=1" in c for c in adb)
    assert (out / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_benchmark_single_tflite_file_without_comparisons(exported, tmp_path, capsys):
    import cli

    out = tmp_path / "latency"
    assert cli.main(["benchmark", "latency", str(exported / "model_int8.tflite"), "--runs", "3", "--warmup", "0",
                     "--threads", "1", "--no-compare", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["results"]
    assert [(r["runtime"], r["precision"], r["threads"]) for r in rows] == [("tflite", "int8", 1)]


def test_not_a_tflite_file_exits_2_as_a_process(tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    out = tmp_path / "latency"
    proc = run_cli("benchmark", "latency", str(bogus), "--out", str(out), timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not a TFLite model" in lines[0]
    assert not out.exists()


def test_benchmark_out_is_a_file_exits_2(exported, tmp_path, capsys):
    import cli

    out = tmp_path / "latency"
    out.write_text("keep me")
    assert cli.main(["benchmark", "latency", str(exported), "--runs", "1", "--out", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err and out.read_text() == "keep me"


def test_experiment_latency_one_architecture(tiny_fruits, tmp_path):
    """Train (LightningCLI, in the experiment's process), export and time one architecture."""
    out, runs = tmp_path / "study2", tmp_path / "runs"
    proc = run_cli("experiment", "latency", "--arch", "alexnet", "--epochs", "1", "--per-class", "16",
                   "--data-root", str(tiny_fruits), "--runs", "3", "--warmup", "1", "--threads", "1",
                   "--out", str(out), "--runs-dir", str(runs), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["training"]) == {"alexnet"} and results["training"]["alexnet"]["epochs"] == 1
    ckpt = results["training"]["alexnet"]["best_checkpoint"]
    assert ckpt.startswith(str(runs))
    export = json.loads((out / "models" / "alexnet" / "export.json").read_text())
    assert export["extra"]["checkpoint"] == ckpt and export["parity"]["passed"]
    assert "TRANSPOSE" not in export["tflite"]["float32"]["ops"]
    assert export["model"]["params"] == 952_835
    assert {r["runtime"] for r in results["results"]} == {"tflite", "onnxruntime", "pytorch"}
    assert "## Training" in (out / "report.md").read_text()
