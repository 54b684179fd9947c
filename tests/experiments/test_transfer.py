"""``python cli.py experiment transfer``: the whole protocol at tiny scale through the real LightningCLI,
its results/report/plot, skipping finished runs, and a really killed run resuming to the same result."""
from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest
import torch

import cli
from datamodules.synthetic_cifar import make_synthetic_cifar
from experiments import transfer
from experiments.transfer.progress import EtaModel
from experiments.transfer.report import time_to_target
from lightning_modules.init_from import read_state_dict
from tests.conftest import run_cli

N = 2
STAGE_ORDER = ["scratch"] * N + ["stage1", "stage2"] + ["stage3"] * N


@pytest.fixture(scope="module")
def tiny_cifar100(tmp_path_factory) -> Path:
    return make_synthetic_cifar(tmp_path_factory.mktemp("cifar") / "cifar", "cifar100", train_per_class=3, test_per_class=1)


@pytest.fixture(scope="module")
def study_args(tiny_fruits, tiny_cifar100) -> list[str]:
    return ["--n", str(N), "--fruits-root", str(tiny_fruits), "--cifar-root", str(tiny_cifar100),
            "--epochs-scratch", "3", "--epochs-stage1", "1", "--epochs-stage2", "2", "--epochs-stage3", "2",
            "--per-class", "12", "--stage2-per-class", "8", "--cifar-per-class", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def study(study_args, tmp_path_factory) -> Path:
    """The whole tiny study, run once in-process; returns its --out folder."""
    out = tmp_path_factory.mktemp("study") / "transfer"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORCHARD_CACHE", str(tmp_path_factory.mktemp("cache")))
        assert transfer.main([*study_args, "--out", str(out)]) == 0
    return out


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def by_id(out: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in results(out)["runs"]}


def test_results_json_records_every_run_of_the_protocol(study):
    data = results(study)
    assert {"cpu", "cores", "gpu", "versions"} <= set(data["machine"]) and data["machine"]["versions"]["torch"]
    runs = data["runs"]
    assert [r["stage"] for r in runs] == STAGE_ORDER
    assert [r["seed"] for r in runs] == [0, 1, 0, 0, 0, 1]
    epochs = {"scratch": 3, "stage1": 1, "stage2": 2, "stage3": 2}
    for r in runs:
        assert r["epochs"] == epochs[r["stage"]] == len(r["epoch_seconds"]) == len(r["val_accuracy"])
        assert r["train_seconds"] == pytest.approx(sum(r["epoch_seconds"])) and r["train_seconds"] > 0
        assert 0.0 <= r["test_accuracy"] <= 1.0 and (study / r["checkpoint"]).is_file()
        assert not Path(r["checkpoint"]).is_absolute() and not Path(r["log_dir"]).is_absolute()  # the folder can move
        assert r["threads"] == torch.get_num_threads()
        assert r["data"]["synthetic"] and r["resumed_from_epoch"] is None
    assert data["summary"]["scratch"]["runs"] == N and data["summary"]["stage3"]["runs"] == N


def test_each_stage_starts_from_the_previous_one_with_its_blocks_frozen(study):
    runs = by_id(study)
    stage1, stage2, stage3 = runs["stage1-seed0"], runs["stage2-seed0"], runs["stage3-seed1"]
    assert (stage1["num_classes"], stage2["num_classes"], stage3["num_classes"]) == (100, 13, 3)
    assert stage2["init_from"] == stage1["checkpoint"] and stage3["init_from"] == stage2["checkpoint"]
    assert stage2["frozen_blocks"] == ["conv1", "conv2", "conv3"] and stage3["frozen_blocks"] == ["conv1", "conv2", "conv3", "conv4"]
    assert runs["scratch-seed0"]["frozen_blocks"] == [] and runs["scratch-seed0"]["init_from"] is None
    w1, w2, w3 = (read_state_dict(study / r["checkpoint"]) for r in (stage1, stage2, stage3))
    for key in w1:  # frozen blocks carried over bit for bit, BatchNorm statistics included
        if key.startswith(("features.conv1", "features.conv2", "features.conv3")):
            assert torch.equal(w1[key], w2[key]), key
    assert not torch.equal(w1["features.conv4.0.weight"], w2["features.conv4.0.weight"])  # conv4 trained in stage 2
    assert all(torch.equal(w2[k], w3[k]) for k in w2 if k.startswith("features."))
    assert stage3["trainable_params"] == sum(v.numel() for k, v in w3.items() if k.startswith("head."))


def test_report_sets_tables_2_to_5_beside_the_paper(study):
    report = (study / "report.md").read_text()
    for table in ("Table 2", "Table 3", "Table 4", "Table 5"):
        assert f"### {table}" in report
    for paper in ("104.8 min", "1,449.7 min", "310.0 min", "8.5 min", "*95.0*", "*47.1*", "*98.7*", "*96.5*", "12.3x"):
        assert paper in report, paper
    assert report.count("**mean ± std**") == 2  # the two repeated stages
    assert "SYNTHETIC" in report and "python cli.py experiment transfer --n 2" in report
    assert "Time to 95 % val acc" in report and "## Speedup" in report
    rows = [line for line in report.splitlines() if line.startswith("| 1 | 0 |") or line.startswith("| 2 | 1 |")]
    assert len(rows) == 6  # per-run rows: 2 scratch, stage 1, stage 2, 2 stage 3


def test_seconds_keep_two_digits_below_one_second():
    from experiments.transfer.report import _sec

    assert _sec(0.283, 0.0094) == "0.28 ± 0.01 s" and _sec(0.08) == "0.08 s"
    assert _sec(5.353, 0.227) == "5.4 ± 0.2 s" and _sec(0.997) == "1.0 s" and _sec(None) == "-"


def test_the_plot_is_a_png(study):
    png = (study / "transfer.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_a_rerun_skips_finished_runs_and_rereads_the_target(study, study_args, capsys):
    records = sorted((study / "runs").glob("*/record.json"))
    stamps = [p.stat().st_mtime_ns for p in records]
    assert transfer.main([*study_args, "--out", str(study), "--target-accuracy", "0.3"]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped (done before)") == len(STAGE_ORDER) and len(records) == len(STAGE_ORDER)
    assert [p.stat().st_mtime_ns for p in records] == stamps  # nothing retrained
    report = (study / "report.md").read_text()
    assert "Time to 30 % val acc" in report and results(study)["options"]["target_accuracy"] == 0.3


def test_a_rerun_with_other_training_settings_is_refused(study, study_args, capsys):
    assert cli.main(["experiment", "transfer", *study_args, "--out", str(study), "--epochs-scratch", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {study / 'runs' / 'scratch-seed0'} was trained with other settings")
    assert "--trainer.max_epochs 3, now 4" in err and "\n" not in err


def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_same_result(study, study_args, tmp_path):
    out = tmp_path / "killed"
    args = [*study_args, "--n", "1", "--stages", "scratch", "--out", str(out)]
    env = {"ORCHARD_CACHE": str(tmp_path / "cache"), "ORCHARD_STUDY_KILL_AT": "scratch-seed0:2"}
    killed = run_cli("experiment", "transfer", *args, env=env, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = out / "runs" / "scratch-seed0"
    assert (run / "fit" / "checkpoints" / "last.ckpt").is_file() and not (run / "record.json").exists()

    os.environ.pop("ORCHARD_STUDY_KILL_AT", None)
    assert transfer.main(args) == 0
    resumed, reference = by_id(out)["scratch-seed0"], by_id(study)["scratch-seed0"]
    assert resumed["resumed_from_epoch"] == 2 and resumed["epochs"] == reference["epochs"] == 3
    assert resumed["test_accuracy"] == reference["test_accuracy"]
    assert resumed["val_accuracy"] == reference["val_accuracy"]
    final, uninterrupted = read_state_dict(out / resumed["checkpoint"]), read_state_dict(study / reference["checkpoint"])
    assert all(torch.equal(final[k], uninterrupted[k]) for k in uninterrupted)
    # the epochs logged before the kill are still in metrics.csv, each once
    rows = list(csv.DictReader((run / "fit" / "metrics.csv").open()))
    val_epochs = [int(r["epoch"]) for r in rows if r.get("val_acc")]
    assert val_epochs == [0, 1, 2] and not (run / "fit" / ".metrics-before-resume.csv").exists()


def test_a_stage_without_its_upstream_run_fails_in_one_line(study_args, tmp_path, capsys):
    code = cli.main(["experiment", "transfer", *study_args, "--stages", "stage3", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: stage3-seed0 starts from stage2-seed0, which has no finished run")


@pytest.mark.parametrize("argv, message", [
    (["--stages", "stage9"], "unknown stage(s) stage9"),
    (["--n", "0"], "--n must be at least 1"),
    (["--target-accuracy", "95"], "--target-accuracy is a fraction"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--gpus-per-run", "2"], "a study run trains on at most one GPU"),
])
def test_bad_options_fail_in_one_line(argv, message, capsys):
    assert cli.main(["experiment", "transfer", *argv]) == 2
    assert message in capsys.readouterr().err


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["experiment", "transfer", "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_quick_preset_with_explicit_flags_winning():
    options = transfer.options_from_args(transfer.build_parser().parse_args(["--quick", "--n", "2", "--epochs-stage3", "7"]))
    assert options.n == 2 and options.epochs["stage3"] == 7 and options.epochs["scratch"] == transfer.QUICK["epochs"]["scratch"]
    assert options.fruits_root == "data/fruits360-synthetic" and options.cifar_root == "data/cifar-synthetic"
    plain = transfer.options_from_args(transfer.build_parser().parse_args([]))
    assert plain.n == 10 and plain.epochs["scratch"] is None and str(plain.out) == "reports/transfer"


def test_time_to_target_reads_validation_accuracy_against_cumulative_train_time():
    record = {"val_accuracy": [0.5, 0.96, 0.99], "epoch_seconds": [1.0, 2.0, 4.0]}
    assert time_to_target(record, 0.95) == (3.0, 2)
    assert time_to_target(record, 0.999) is None


def test_the_eta_uses_each_stage_rate_and_borrows_for_unseen_stages():
    eta = EtaModel()
    assert eta.remaining([("scratch", 3)]) is None
    eta.observe("scratch", 10.0, 5)  # 2 s per epoch
    eta.observe("stage1", 40.0, 4)  # 10 s per epoch
    assert eta.remaining([("scratch", 3), ("stage1", 1)]) == pytest.approx(16.0)
    assert eta.remaining([("stage3", 2)]) == pytest.approx(12.0)  # the mean rate, (2 + 10) / 2
