"""``python cli.py benchmark workers``: each variant is a whole study in a fresh process; the JSON holds wall times and ratios."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_each_variant_is_a_timed_study_and_the_ratio_is_recorded(tiny_fruits, tmp_path):
    out = tmp_path / "bench"
    result = run_cli("benchmark", "workers", "--variant", "one=--threads 1", "--variant", "two=--threads 2",
                     "--keep-studies", "--out", str(out), "--", "--n", "1", "--stages", "scratch",
                     "--fruits-root", str(tiny_fruits), "--per-class", "8", "--epochs-scratch", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    one, two = data["variants"]["one"], data["variants"]["two"]
    assert one["threads"] == [1] and two["threads"] == [2] and one["engine"]["engine"] == "local"
    assert set(one["test_accuracy"]) == {"scratch-seed0"}
    assert data["wall_time_ratio_to_first"]["two"] == pytest.approx(two["wall_seconds"] / one["wall_seconds"], rel=0.01)
    assert (out / "studies" / "two" / "results.json").is_file()


def test_a_variant_without_a_name_is_one_line(tmp_path):
    result = run_cli("benchmark", "workers", "--variant", "--workers 2", "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and result.stderr.strip().startswith("error: --variant")


def test_a_study_past_the_timeout_is_an_error_row_and_the_results_are_still_written(tiny_fruits, tmp_path):
    out = tmp_path / "bench"
    result = run_cli("benchmark", "workers", "--variant", "one=--threads 1", "--timeout", "0.5", "--out", str(out),
                     "--", "--n", "1", "--stages", "scratch", "--fruits-root", str(tiny_fruits))
    assert result.returncode == 2, result.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["variants"]["one"]["error"] == "stopped after --timeout 0.5 s"
