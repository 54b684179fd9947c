"""``benchmark latency`` and ``experiment latency`` with the real interpreters, on a tiny scale."""
from __future__ import annotations

import json

from benchmarks.latency.options import default_threads
from benchmarks.latency.timing import round_ms, summarise, time_calls, time_first_and_runs
from tests.helpers.export import EXPORT_ARCH, exported, rejected_export  # noqa: F401
from tests.helpers.cli import run_main

STAT_KEYS = {"mean_ms", "std_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms"}
RESULT_KEYS = {"model", "runtime", "precision", "variant", "threads", "init_ms", "first_ms", "warmup", "runs_ms",
               "params", "bytes", *STAT_KEYS}
END_TO_END_KEYS = {"model", "precision", "variant", "threads", "photos", "load_ms", "decode_ms", "preprocess_ms",
                   "invoke_ms", "postprocess_ms", "total_ms", "input", "photo_accuracy"}


def on_grid(x: float) -> bool:
    return abs(x * 100 - round(x * 100)) < 1e-6


def test_rounding_and_summary():
    assert round_ms(1_234_567) == 1.23 and round_ms(5_000) == 0.01 and round_ms(4_000) == 0.0
    s = summarise([1.0, 2.0, 3.0, 4.0, 10.0])
    assert s == {"mean_ms": 4.0, "std_ms": 3.162, "p50_ms": 3.0, "p90_ms": 7.6, "p99_ms": 9.76, "min_ms": 1.0,
                 "max_ms": 10.0}
    calls = []
    runs = time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(runs) == 7 and len(calls) == 10 and all(on_grid(r) for r in runs)
    calls.clear()
    timed = time_first_and_runs(lambda: calls.append(1), runs=4, warmup=2)
    assert len(calls) == 1 + 2 + 4 and timed["warmup"] == 2 and len(timed["runs_ms"]) == 4 and on_grid(timed["first_ms"])


def test_end_to_end_without_metadata_uses_the_interpreter_and_the_data_mean_std(exported, tiny_fruits, tmp_path):
    """The same photos through a copy of the int8 model whose metadata was stripped: the normalisation
    then comes from the interpreter's quantisation and the data's mean/std, and it is the same."""
    import shutil

    from benchmarks.latency.end_to_end import end_to_end, photo_files
    from export.metadata import strip_metadata

    export = json.loads((exported / "export.json").read_text())
    model = exported / export["tflite"]["int8"]["file"]
    bare = tmp_path / "bare.tflite"
    shutil.copy(model, bare)
    strip_metadata(bare)
    photos = photo_files(tiny_fruits, 5)
    assert len(photos) == 5 and all(p.parent.parent.name == "Test" for p in photos)
    with_meta = end_to_end(model, photos, 1)
    without = end_to_end(bare, photos, 1, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert with_meta["input"]["source"] == "metadata" and without["input"]["source"] == "interpreter"
    assert {k: v for k, v in with_meta["input"].items() if k != "source"} == \
        {k: v for k, v in without["input"].items() if k != "source"}
    # full-integer deliverables take quantised input, a dynamic-range one float input
    assert (without["input"]["scale"] is not None) == (export["tflite"]["int8"]["variant"] != "dynamic")
    assert without["photo_accuracy"] is None  # apple/pear/noise labels do not name the photos' folders


def test_default_threads_are_one_and_the_physical_cores():
    import os

    import psutil

    physical = psutil.cpu_count(logical=False) or os.cpu_count()
    assert default_threads() == sorted({1, physical})
    assert 4 not in default_threads() or physical == 4


def test_benchmark_an_export_folder(exported, tmp_path, capsys):
    out = tmp_path / "latency"
    code, _, err = run_main(capsys, "benchmark", "latency", exported, "--runs", "5", "--warmup", "1", "--threads", "1",
                            "2", "--photos", "6", "--out", out)
    assert code == 0, err[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["latency.png", "report.md", "results.json"]
    results = json.loads((out / "results.json").read_text())
    assert {"cpu", "cores"} <= set(results["machine"])
    rows = results["results"]
    combos = {(r["runtime"], r["precision"], r["threads"]) for r in rows}
    assert combos == {(rt, p, t) for t in (1, 2) for rt, p in
                      [("tflite", "float32"), ("tflite", "int8"), ("onnxruntime", "float32"), ("pytorch", "float32")]}
    for r in rows:
        assert RESULT_KEYS <= set(r) and r["model"] == EXPORT_ARCH and r["params"] == 98_379
        assert len(r["runs_ms"]) == 5 and all(on_grid(x) for x in r["runs_ms"]) and r["warmup"] == 1
        assert r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"] and r["bytes"] > 0
        assert r["first_ms"] > 0 and (r["init_ms"] > 0 if r["runtime"] != "pytorch" else r["init_ms"] is None)
    export = json.loads((exported / "export.json").read_text())
    int8 = next(r for r in rows if r["precision"] == "int8")
    assert int8["bytes"] == (exported / export["tflite"]["int8"]["file"]).stat().st_size
    assert int8["variant"] == export["tflite"]["int8"].get("variant", "int8")
    e2e = results["end_to_end"]
    assert {(e["precision"], e["threads"]) for e in e2e} == {("float32", 1), ("int8", 1)}
    for e in e2e:
        assert END_TO_END_KEYS <= set(e) and e["photos"] == 6 and e["load_ms"] > 0
        parts = [e[k] for k in ("decode_ms", "preprocess_ms", "invoke_ms", "postprocess_ms")]
        assert all(p > 0 for p in parts) and e["total_ms"] >= max(parts)
        assert list(e["input"]["mean"]) == [0.5, 0.5, 0.5] and e["input"]["source"] == "metadata"
    report = (out / "report.md").read_text()
    assert "paper value not given" in report and "| mobilenet_v2 | 98,379 / 98,379 |" in report
    assert "## End to end" in report and "| 99.8% |" in report  # Table 1's MobileNetV2 beside ours
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


def test_the_printed_rows_name_the_file_a_fallback_deliverable_is(exported):
    import numpy as np

    from benchmarks.latency.command import benchmark_models
    from benchmarks.latency.models import LatencyModel

    model = LatencyModel(name="m", tflite={"int8": exported / "model_int8.tflite"}, variants={"int8": "int16act"})
    lines: list[str] = []
    rows, failures = benchmark_models([model], np.zeros((1, 3, 100, 100), np.float32), [1], runs=2, warmup=0,
                                      compare=False, log=lines.append)
    assert not failures and rows[0]["precision"] == "int8" and rows[0]["variant"] == "int16act"
    assert len(lines) == 1 and lines[0].split()[:3] == ["m", "tflite", "int16act"]


def test_not_a_tflite_file_exits_2_and_writes_nothing(tmp_path, capsys):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    out = tmp_path / "latency"
    code, _, err = run_main(capsys, "benchmark", "latency", bogus, "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not a TFLite model" in lines[0]
    assert not out.exists()


def test_one_bad_file_is_a_row_beside_the_good_ones(exported, tmp_path, capsys):
    """A corrupt .tflite among good ones: the good one is timed, the bad one is a row with its reason."""
    import cli

    bogus = tmp_path / "broken.tflite"
    bogus.write_bytes(b"\x00" * 64)
    missing = tmp_path / "missing.tflite"
    out = tmp_path / "latency"
    assert cli.main(["benchmark", "latency", str(bogus), str(exported / "model_float32.tflite"), str(missing),
                     "--runs", "2", "--warmup", "0", "--threads", "1", "--no-compare", "--photos", "2",
                     "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert {(r["model"], r["precision"]) for r in results["results"]} == {(EXPORT_ARCH, "float32")}
    failures = {f["model"]: f for f in results["failures"]}
    assert set(failures) == {str(bogus), str(missing)}
    assert failures[str(bogus)]["stage"] == "load" and "not a TFLite model" in failures[str(bogus)]["reason"]
    assert "does not exist" in failures[str(missing)]["reason"]
    report = (out / "report.md").read_text()
    assert "## Not measured" in report and f"| {bogus} | load |" in report
    assert f"note: {bogus} (load) not timed" in capsys.readouterr().out


def test_nothing_timed_names_every_model_on_one_line(tmp_path, capsys):
    import cli

    bad = [tmp_path / "a.tflite", tmp_path / "b.tflite"]
    for path in bad:
        path.write_bytes(b"junk")
    out = tmp_path / "latency"
    assert cli.main(["benchmark", "latency", *map(str, bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no model could be timed: ")
    assert all(str(p) in err[0] for p in bad) and not out.exists()


def test_benchmark_out_is_a_file_exits_2(exported, tmp_path, capsys):
    import cli

    out = tmp_path / "latency"
    out.write_text("keep me")
    assert cli.main(["benchmark", "latency", str(exported), "--runs", "1", "--out", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err and out.read_text() == "keep me"


def test_out_holding_a_users_file_is_refused_unless_overwrite(exported, tmp_path, capsys):
    import cli

    out = tmp_path / "latency"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["benchmark", "latency", str(exported / "model_float32.tflite"), "--runs", "1", "--warmup", "0",
            "--threads", "1", "--no-compare", "--photos", "1", "--out", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.txt" in err[0] and "--overwrite" in err[0]
    assert (out / "notes.txt").read_text() == "mine"
    assert cli.main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["latency.png", "report.md", "results.json"]


def test_experiment_continues_past_a_model_that_fails(tmp_path, capsys):
    """Study 2 on the all-class task: alexnet_separable cannot be trained (a file stands where its run
    folder goes), alexnet is still trained, exported and timed; the failure is a row naming the
    architecture; thread counts default to 1 and the physical core count. The data: 13 classes of 8
    training and 16 test photos (few to calibrate on, all 312 to judge the quantised model on)."""
    from datamodules.synthetic import make_synthetic_fruits

    data = make_synthetic_fruits(tmp_path / "fruits360", train_per_class=8, test_per_class=16)
    out, runs = tmp_path / "study2", tmp_path / "runs"
    runs.mkdir()
    (runs / "alexnet_separable").write_text("a file where the training run's folder should go")
    code, stdout, stderr = run_main(capsys, "experiment", "latency", "--arch", "alexnet_separable", "alexnet",
                                    "--epochs", "1", "--per-class", "16", "--data-root", data, "--runs", "3",
                                    "--warmup", "1", "--photos", "4", "--out", out, "--runs-dir", runs)
    assert code == 0, stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"]["grouping"] == "none" and results["experiment"]["classes"] == 13
    assert set(results["training"]) == {"alexnet"} and results["training"]["alexnet"]["epochs"] == 1
    [failed] = results["failures"]
    assert failed["model"] == "alexnet_separable" and failed["stage"] == "train" and failed["reason"]
    assert "alexnet_separable (train) not timed" in stdout
    assert "== alexnet: trained 1 epoch(s) in " in stdout and "Epoch 0" not in stdout  # no bar into a pipe
    ckpt = results["training"]["alexnet"]["best_checkpoint"]
    assert ckpt.startswith(str(runs))
    export = json.loads((out / "models" / "alexnet" / "export.json").read_text())
    assert export["extra"]["checkpoint"] == ckpt
    assert "TRANSPOSE" not in export["tflite"]["float32"]["ops"]
    assert export["model"]["params"] == 957_965  # 952,835 with a 13-way classifier instead of 3-way
    assert {r["runtime"] for r in results["results"]} == {"tflite", "onnxruntime", "pytorch"}
    assert {r["threads"] for r in results["results"]} == set(default_threads()) == set(results["settings"]["threads"])
    assert {e["model"] for e in results["end_to_end"]} == {"alexnet"}
    assert all(e["photo_accuracy"] is not None for e in results["end_to_end"])  # labels are the class folders
    report = (out / "report.md").read_text()
    assert "## Training" in report and "## Not measured" in report and "## End to end" in report
    assert "| alexnet_separable | — | not measured: train failed" in report


def test_experiment_bad_options_and_a_users_folder_fail_in_one_line_before_training(tiny_fruits, tmp_path, capsys):
    import cli

    out = tmp_path / "study2"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    base = ["experiment", "latency", "--data-root", str(tiny_fruits), "--runs-dir", str(tmp_path / "runs")]
    for argv, words in ((["--out", str(out)], ["notes.txt", "--overwrite"]),
                        (["--out", str(tmp_path / "new"), "--threads", "0"], ["--threads"]),
                        (["--out", str(tmp_path / "new"), "--arch", "alexnet", "resnet"], ["resnet"])):
        assert cli.main([*base, *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and all(w in err[0] for w in words), err
    assert (out / "notes.txt").read_text() == "mine" and not (tmp_path / "runs").exists()
    assert not (tmp_path / "new").exists()


def test_a_model_whose_int8_is_rejected_is_timed_in_float_with_the_reason(rejected_export, tmp_path, capsys):
    """A real export whose every quantised attempt missed an unreachable gate: benchmark latency times
    its float32 model and shows the int8 row's reason and the ladder's attempts."""
    import cli

    folder = rejected_export["out"]
    report = json.loads((folder / "export.json").read_text())
    assert report["quantization"]["deliverable"] is None and "int8" not in report["tflite"]
    out = tmp_path / "latency"
    assert cli.main(["benchmark", "latency", str(folder), "--runs", "2", "--warmup", "0", "--threads", "1",
                     "--no-compare", "--photos", "2", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert {(r["runtime"], r["precision"]) for r in results["results"]} == {("tflite", "float32")}
    [rejected] = results["failures"]
    assert rejected["model"] == EXPORT_ARCH and rejected["stage"] == "int8 not exported"
    assert rejected["reason"] == report["quantization"]["reason"]
    [model] = results["models"]
    attempts = model["export"]["quantization"]["attempts"]
    assert [a["variant"] for a in attempts] == ["int8", "int16act", "dynamic"] and not any(a["passed"] for a in attempts)
    text = (out / "report.md").read_text()
    assert "## int8: the fallback ladder" in text and "**no int8 deliverable**" in text
    assert f"| {EXPORT_ARCH} | int16act | " in text and "| none: " in text


def test_table1_names_models_far_from_the_paper():
    from benchmarks.latency.report import paper_gap_note

    models = [{"name": "alexnet", "test_accuracy": {"pytorch": 0.992},
               "export": {"parity": {"float32": {"test_images": 2428}}}},
              {"name": "mobilenet_v2", "test_accuracy": {"pytorch": 0.991}}]
    [note, _] = paper_gap_note({"models": models, "experiment": {"classes": 44}})
    assert "alexnet (+2.1)" in note and "mobilenet_v2" not in note and "44 classes, 2,428 test images" in note
    assert paper_gap_note({"models": models[1:]}) == []
