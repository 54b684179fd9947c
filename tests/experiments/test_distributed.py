"""Study 1 on Ray: runs fanned out over an embedded local cluster, in dependency order, with the sequential
path's results; a worker or the driver killed mid-run, and a failing run beside finished ones.

The scheduler's own rules (order, failure propagation) are checked without Ray; the rest starts
Ray for real (``slow``)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from experiments import transfer
from experiments.engine.jobs import Outcome, Task
from experiments.engine.local import LocalExecutor
from experiments.engine.scheduler import downstream_counts, run_graph
from tests.conftest import REPO, run_cli

N = 2


# -- the scheduler, in this process -------------------------------------------------------------
class Recorder:
    """A Progress sink that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def started(self, key, total, done, where) -> None:
        self.events.append(("started", key))

    def advanced(self, key, done, info) -> None:
        self.events.append(("advanced", key, done))


def double_or_fail(value: int, *, progress) -> int:
    progress.started(f"v{value}", 1, 0, "")
    if value < 0:
        raise ValueError(f"negative {value}")
    return 2 * value


NEEDS = {"s1": (), "s2": ("s1",), "c1": ("s2",), "c2": ("s2",), "a": (), "b": ()}


def test_runs_start_after_their_upstream_and_a_failure_skips_only_its_dependents():
    order, seen = ["a", "b", "s1", "s2", "c1", "c2"], []
    values = {"a": 1, "b": 2, "s1": -1, "s2": 3, "c1": 4, "c2": 5}

    def make(key, upstream):
        seen.append((key, dict(upstream)))
        return Task(key, double_or_fail, (values[key],))

    outcomes = run_graph(order, NEEDS, make, LocalExecutor(Recorder()), lambda o: None)
    assert [k for k, _ in seen] == ["a", "b", "s1"]  # s2, c1, c2 are never built: s1 failed
    assert outcomes["a"].value == 2 and outcomes["b"].value == 4
    assert outcomes["s1"].error == "ValueError: negative -1"
    assert outcomes["s2"].error == "not run: s1 failed" and outcomes["c1"].error == "not run: s2 failed"
    assert outcomes["s2"].not_run and outcomes["c1"].not_run and not outcomes["s1"].not_run


def test_upstream_values_reach_the_runs_that_need_them_and_decided_runs_do_not_run():
    got = {}

    def make(key, upstream):
        got[key] = upstream
        if key == "s1":
            return Outcome(key, value="ckpt-s1", skipped=True)  # finished earlier
        return Task(key, double_or_fail, (1,))

    outcomes = run_graph(["s1", "s2"], NEEDS, make, LocalExecutor(Recorder()), lambda o: None)
    assert got["s2"] == {"s1": "ckpt-s1"} and outcomes["s1"].skipped and outcomes["s2"].value == 2


def test_with_several_slots_the_longest_chain_goes_first():
    counts = downstream_counts(["a", "b", "s1", "s2", "c1", "c2"], NEEDS)
    assert counts == {"a": 0, "b": 0, "s1": 3, "s2": 2, "c1": 0, "c2": 0}


# -- study 1 on Ray ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study_args(fruits_mini) -> list[str]:
    cifar = REPO.parent / "shared" / "data" / "cifar10-mini"
    return ["--n", str(N), "--threads", "1", "--fruits-root", str(fruits_mini), "--per-class", "20",
            "--stage2-per-class", "6", "--cifar-root", str(cifar), "--cifar-dataset", "cifar10",
            "--cifar-per-class", "10", "--epochs-scratch", "3", "--epochs-stage1", "1", "--epochs-stage2", "1",
            "--epochs-stage3", "2"]


@pytest.fixture(scope="module")
def sequential(study_args, tmp_path_factory) -> Path:
    """The study one run after another in this process (``--threads 1``, restored afterwards for other tests)."""
    out = tmp_path_factory.mktemp("sequential") / "study"
    threads = torch.get_num_threads()
    try:
        assert transfer.main([*study_args, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def on_ray(study_args, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The same study as Ray tasks on 2 workers; scratch-seed1's worker process is SIGKILLed in its epoch 1."""
    out = tmp_path_factory.mktemp("ray") / "study"
    result = run_cli("experiment", "transfer", *study_args, "--workers", "2", "--out", str(out),
                     env={"ORCHARD_STUDY_KILL_AT": "scratch-seed1:1"}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result


def runs(out: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in json.loads((out / "results.json").read_text())["runs"]}


@pytest.mark.slow
def test_ray_runs_give_the_sequential_runs_accuracies(sequential, on_ray):
    ours, theirs = runs(on_ray[0]), runs(sequential)
    assert set(ours) == set(theirs) and len(ours) == 2 * N + 2
    for run_id, record in theirs.items():
        assert ours[run_id]["test_accuracy"] == record["test_accuracy"], run_id
        assert ours[run_id]["threads"] == record["threads"] == 1


@pytest.mark.slow
def test_results_record_the_engine_and_where_each_run_ran(on_ray):
    data = json.loads((on_ray[0] / "results.json").read_text())
    assert data["engine"]["engine"] == "ray" and data["engine"]["workers"] == 2
    assert data["engine"]["start_seconds"] > 0 and data["failures"] == {}
    for record in data["runs"]:
        assert {"host", "pid", "worker", "node"} <= set(record["worker"]), record["run_id"]
        assert (on_ray[0] / "runs" / record["run_id"] / "run.log").is_file()
    assert len({r["worker"]["pid"] for r in data["runs"]}) >= 2  # two worker processes trained
    assert "Ray 2.60.0" in (on_ray[0] / "report.md").read_text()
    assert "2 at once" in on_ray[1].stdout


@pytest.mark.slow
def test_on_ray_each_stage_starts_after_its_upstream_finished(on_ray):
    r = runs(on_ray[0])
    assert r["stage1-seed0"]["finished_at"] <= r["stage2-seed0"]["started_at"]
    for seed in range(N):
        assert r["stage2-seed0"]["finished_at"] <= r[f"stage3-seed{seed}"]["started_at"]
        assert r[f"stage3-seed{seed}"]["init_from"] == r["stage2-seed0"]["checkpoint"]
    # the chain started at once, beside a scratch seed, not after the scratch runs
    assert r["stage1-seed0"]["started_at"] < max(r[f"scratch-seed{s}"]["finished_at"] for s in range(N))


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_from_its_last_checkpoint(on_ray, sequential):
    killed = runs(on_ray[0])["scratch-seed1"]
    assert killed["resumed_from_epoch"] == 1 and killed["epochs"] == 3
    assert killed["test_accuracy"] == runs(sequential)["scratch-seed1"]["test_accuracy"]


@pytest.mark.slow
def test_a_failing_run_is_reported_and_the_independent_runs_finish(fruits_mini, tmp_path):
    """The scheduler's rule, here on the in-process engine (Ray returns a failed run's outcome the same way)."""
    empty_cifar = tmp_path / "no-cifar"
    empty_cifar.mkdir()
    out = tmp_path / "study"
    result = run_cli("experiment", "transfer", "--n", "1", "--threads", "1",
                     "--fruits-root", str(fruits_mini), "--per-class", "10", "--epochs-scratch", "1",
                     "--cifar-root", str(empty_cifar), "--cifar-dataset", "cifar10", "--out", str(out), timeout=600)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: 1 of 4 runs failed (stage1-seed0: ") and ", 2 more not run because of them" in line
    data = json.loads((out / "results.json").read_text())
    assert [r["run_id"] for r in data["runs"]] == ["scratch-seed0"]  # finished beside the failure
    assert "no-cifar" in data["failures"]["stage1-seed0"]
    assert data["failures"]["stage2-seed0"] == "not run: stage1-seed0 failed"
    assert data["failures"]["stage3-seed0"] == "not run: stage2-seed0 failed"
    assert "## Failed runs" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_killed_driver_leaves_a_study_the_rerun_finishes(study_args, sequential, tmp_path):
    out = tmp_path / "study"
    args = [*study_args, "--n", "1", "--stages", "scratch", "--epochs-scratch", "30", "--workers", "2", "--out", str(out)]
    driver = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "experiment", "transfer", *args],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        ckpt = out / "runs" / "scratch-seed0" / "fit" / "checkpoints" / "last.ckpt"
        while not ckpt.is_file() and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
        assert ckpt.is_file(), "the study never wrote a checkpoint"
        workers = [p for p in psutil.Process(driver.pid).children(recursive=True) if "Agent" not in p.name()]
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone: Ray must end its workers
        driver.wait(timeout=60)
        gone, alive = psutil.wait_procs(workers, timeout=60)
        assert not alive, f"Ray processes outlived the driver: {[p.name() for p in alive]}"
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # Ray's idle agents, if still there
        except ProcessLookupError:
            pass
    assert not (out / "runs" / "scratch-seed0" / "record.json").is_file()
    # the rerun, one run at a time in this process: the engine is not a setting of the runs
    result = run_cli("experiment", "transfer", *args[:-4], "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    resumed = runs(out)["scratch-seed0"]
    assert resumed["epochs"] == 30 and resumed["resumed_from_epoch"]


def test_the_study_view_counts_running_and_queued_runs_and_shares_the_eta_among_workers():
    import io

    from rich.console import Console

    from experiments.transfer.plan import RunSpec
    from experiments.transfer.progress import StudyDisplay

    planned = [(RunSpec("scratch", s), 10) for s in range(3)]
    with StudyDisplay(planned, console=Console(file=io.StringIO()), slots=2) as display:
        display.eta.observe("scratch", 20.0, 10)  # 2 s per epoch
        display.started("scratch-seed0", 10, 0, "hostA:1")
        display.started("scratch-seed1", 10, 0, "hostB:2")
        fields = display.progress.tasks[display.study_task].fields
        assert fields["info"].startswith("2 running, 1 queued")
        # three runs of 10 epochs at 2 s each, two at a time
        assert display.remaining_seconds() == pytest.approx(3 * 10 * 2.0 / 2)
        display.finish_run(RunSpec("scratch", 0), {"epochs": 10, "train_seconds": 1.0, "test_accuracy": 0.9})
        assert display.progress.tasks[display.study_task].completed == 1
        assert display.progress.tasks[display.study_task].fields["info"].startswith("1 running, 1 queued")
        # a failed run's "started" event can reach the driver after its outcome: it must not revive the run
        display.finish_run(RunSpec("scratch", 2), None, error="boom")
        display.started("scratch-seed2", 10, 0, "hostA:1")
        assert display.progress.tasks[display.study_task].fields["info"].startswith("1 running, 0 queued")
