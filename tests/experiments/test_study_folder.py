"""A study folder (``experiment transfer --out S``): one process owns it, a failed start or a move does not
make it unusable, a rerun with another thread count is reported truthfully, damaged or unwritable files end
in one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import cli
from experiments import transfer
from experiments.transfer.lock import LOCK_NAME
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="module")
def args(tiny_fruits) -> list[str]:
    """One scratch run of one epoch of the smallest network: the cheapest real study."""
    return ["--n", "1", "--stages", "scratch", "--arch", "mobilenet_v2", "--fruits-root", str(tiny_fruits),
            "--epochs-scratch", "1", "--per-class", "12", "--batch-size", "8"]


@pytest.fixture
def small_study(args, tmp_path) -> Path:
    out = tmp_path / "study"
    assert transfer.main([*args, "--out", str(out)]) == 0
    return out


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_second_process_is_refused_and_a_dead_owners_lock_is_taken_over(args, tmp_path):
    out = tmp_path / "study"
    owner = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "experiment", "transfer", *args,
                              "--epochs-scratch", "500", "--out", str(out)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_NAME).is_file() or not (out / LOCK_NAME).read_text():
            assert owner.poll() is None and time.monotonic() < deadline, "the first study never took its lock"
            time.sleep(0.2)
        refused = run_cli("experiment", "transfer", *args, "--out", str(out))
        line = one_error_line(refused)
        assert f"study folder {out} is in use by pid {owner.pid} on host" in line
        assert owner.poll() is None  # the owner was left alone
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == owner.pid  # a SIGKILL leaves the lock file behind
    shutil.rmtree(out / "runs", ignore_errors=True)  # its 500-epoch run (if it got that far), which a 1-epoch study would refuse as other settings
    taken = run_cli("experiment", "transfer", *args, "--out", str(out))
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert f"took over the lock of a process that is gone ({owner.pid})" in taken.stdout
    assert not (out / LOCK_NAME).exists()


def test_a_failed_start_does_not_block_the_corrected_rerun(args, tmp_path, capsys):
    out = tmp_path / "study"
    missing = [*args, "--out", str(out), "--fruits-root", str(tmp_path / "nope")]
    assert cli.main(["experiment", "transfer", *missing]) == 2
    assert capsys.readouterr().err.strip() == f"error: --fruits-root {tmp_path / 'nope'}: no such folder"
    assert not out.exists()
    (tmp_path / "empty").mkdir()
    assert cli.main(["experiment", "transfer", *args, "--out", str(out), "--fruits-root", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert cli.main(["experiment", "transfer", *args, "--out", str(out)]) == 0  # not "trained with other settings"
    assert (out / "runs" / "scratch-seed0" / "record.json").is_file()


def test_a_moved_study_folder_resumes(args, small_study, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.move(small_study, moved)
    capsys.readouterr()
    assert transfer.main([*args, "--out", str(moved)]) == 0
    assert "skipped (done before)" in capsys.readouterr().out
    record = json.loads((moved / "results.json").read_text())["runs"][0]
    assert (moved / record["checkpoint"]).is_file() and not Path(record["checkpoint"]).is_absolute()


def test_a_rerun_with_another_thread_count_reports_each_runs_own(args, small_study, capsys):
    before = torch.get_num_threads()
    other = before + 1
    try:
        assert transfer.main([*args, "--out", str(small_study), "--threads", str(other)]) == 0
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "skipped (done before)" in out and "1 earlier run(s) trained with another thread count" in out
    assert json.loads((small_study / "results.json").read_text())["runs"][0]["threads"] == before
    report = (small_study / "report.md").read_text()
    assert f"torch threads per run: {before}" in report and f"| {before} |" in report


def test_a_damaged_record_is_redone_from_its_checkpoint(args, small_study, capsys):
    record = small_study / "runs" / "scratch-seed0" / "record.json"
    good = json.loads(record.read_text())
    record.write_text(record.read_text()[:40])
    capsys.readouterr()
    assert transfer.main([*args, "--out", str(small_study)]) == 0
    assert "record.json is damaged (JSONDecodeError): redone from its last checkpoint" in capsys.readouterr().out
    again = json.loads(record.read_text())
    assert again["test_accuracy"] == good["test_accuracy"] and again["epochs"] == good["epochs"]


def test_an_unwritable_study_folder_ends_in_one_line(args, small_study):
    (small_study / "runs" / "scratch-seed1").write_text("in the way")  # the folder the second run needs
    result = run_cli("experiment", "transfer", *args, "--n", "2", "--out", str(small_study))
    assert one_error_line(result).startswith(f"error: cannot write {small_study / 'runs' / 'scratch-seed1'}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_study_folder_ends_in_one_line(args, small_study):
    runs = small_study / "runs"
    runs.chmod(0o555)
    try:
        result = run_cli("experiment", "transfer", *args, "--n", "2", "--out", str(small_study))
    finally:
        runs.chmod(0o755)
    assert one_error_line(result).startswith("error: cannot write")


def test_a_stage_with_nothing_to_start_from_is_refused_before_any_run_trains(args, tmp_path, capsys):
    out = tmp_path / "study"
    argv = [a if a != "scratch" else "scratch,stage3" for a in args]  # --stages scratch,stage3: no stage 2 anywhere
    assert cli.main(["experiment", "transfer", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stage3-seed0 starts from stage2-seed0" in err[0] and "add stage2 to --stages" in err[0]
    assert not out.exists()  # the scratch run did not train first, and no empty folder is left
