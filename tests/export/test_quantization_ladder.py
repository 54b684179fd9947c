"""The quantised model's gate and fallback ladder, the fresh-weights rule, and an export killed mid-conversion."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from export.parity import ParityThresholds, quantized_failures
from export.names import QUANT_VARIANTS
from tests.conftest import REPO
from tests.helpers.export import REJECTED_CALIBRATION_IMAGES

FIGURES = {"top1_agreement": 0.995, "agreement_images": 9000, "cosine_min": 0.97, "test_accuracy": 0.95}


def test_gate_needs_agreement_and_accuracy_within_a_point_of_float32():
    limits = ParityThresholds()
    assert quantized_failures(FIGURES, 0.955, limits, fresh_weights=False) == []
    lost = quantized_failures(FIGURES, 0.965, limits, fresh_weights=False)
    assert len(lost) == 1 and "test accuracy 95.00% < float32's 96.50% - 1 point" in lost[0]
    low = quantized_failures({**FIGURES, "top1_agreement": 0.98}, 0.95, limits, fresh_weights=False)
    assert low == ["top-1 agreement 98.00% < 99% on 9000 images"]
    # fresh weights: only output closeness counts, however the labels fall
    assert quantized_failures({**FIGURES, "top1_agreement": 0.5}, 0.99, limits, fresh_weights=True) == []
    assert "cosine" in quantized_failures(FIGURES, None, ParityThresholds(fresh_min_cosine=0.99), fresh_weights=True)[0]


def test_nothing_passes_float_models_stay_reason_recorded_require_exits_2(rejected_export):
    """Fresh weights with an impossible closeness limit: every rung of the ladder is tried and rejected."""
    out = rejected_export["out"]
    assert rejected_export["code"] == 2
    lines = rejected_export["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no quantised variant of mobilenet_v2 passed"), lines
    assert "--require int8" in lines[0]
    assert "judged on output closeness" in rejected_export["stdout"] and "no quantised model" in rejected_export["stdout"]
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "labels.txt", "model.onnx",
                                                     "model_float16.tflite", "model_float32.tflite"]
    r = json.loads((out / "export.json").read_text())
    assert r["judged_on"] == "output_closeness_fresh_weights" and "int8" not in r["tflite"]
    q = r["quantization"]
    assert q["deliverable"] is None and "cosine" in q["reason"] and q["calibration_images"] == REJECTED_CALIBRATION_IMAGES
    assert [a["variant"] for a in q["attempts"]] == list(QUANT_VARIANTS)
    for a in q["attempts"]:
        assert not a["passed"] and a["failures"] and a["bytes"] > 0
    judged = [a for a in q["attempts"] if "cosine_min" in a]  # (the int16 kernels may refuse a fresh net)
    assert judged and all(0 < a["cosine_min"] < 1.01 and a["agreement_images"] == 13 * 32 for a in judged)
    assert not list(out.parent.glob(".export.*")), "hidden temporary export folder left behind"


def test_a_missed_gate_falls_back_and_only_the_passing_rung_stays(tmp_path, tiny_fruits):
    """Fresh weights with a closeness limit full-integer int8 misses (its smallest logit cosine is 0.989
    here) but dynamic range, with float activations, meets (0.995): the ladder climbs past int16act
    (whose int16 kernels refuse this net, or whose figures are recorded) and the folder holds only
    the rung that passed."""
    from export.source import fresh_model
    from export.source import export_from_source
    from export.names import tflite_file

    out = tmp_path / "export"
    r = export_from_source(fresh_model("mobilenet_v2", 3), out, data_root=tiny_fruits, per_class=8, calibration=40,
                           verbose=False, thresholds=ParityThresholds(fresh_min_cosine=0.993))
    q = r["quantization"]
    attempts = q["attempts"]
    assert attempts[0]["variant"] == "int8" and not attempts[0]["passed"] and "cosine" in attempts[0]["failures"][0]
    assert q["deliverable"] in ("int16act", "dynamic") and attempts[-1]["variant"] == q["deliverable"]
    assert [a["variant"] for a in attempts] == list(QUANT_VARIANTS[:len(attempts)])
    assert attempts[-1]["passed"] and all(not a["passed"] for a in attempts[:-1])
    assert r["tflite"]["int8"]["variant"] == q["deliverable"] and r["tflite"]["int8"]["file"] == tflite_file(q["deliverable"])
    assert sorted(p.name for p in out.glob("*.tflite")) == sorted(
        ["model_float16.tflite", "model_float32.tflite", tflite_file(q["deliverable"])])
    saved = json.loads((out / "export.json").read_text())
    assert saved["quantization"]["attempts"] == attempts and saved["tflite"]["int8"]["bytes"] == attempts[-1]["bytes"]


def _descendants_named(pid: int, fragment: str) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if any(fragment in part for part in child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def test_killed_export_leaves_no_worker_and_no_temporary_folders(tmp_path, tiny_fruits):
    """Kill ``cli.py export`` while onnx2tf converts, once with SIGTERM and once with SIGKILL (two exports
    started side by side): the worker dies with its parent; SIGTERM also cleans up."""
    exports = {}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        base = tmp_path / sig.name
        temp = base / "tmp"
        temp.mkdir(parents=True)
        proc = subprocess.Popen([sys.executable, str(REPO / "cli.py"), "export", "--arch", "mobilenet_v2",
                                 "--data-root", str(tiny_fruits), "--calibration-images", "20", "--out", str(base / "out")],
                                cwd=REPO, env={**os.environ, "TMPDIR": str(temp)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        exports[sig] = {"base": base, "temp": temp, "proc": proc, "workers": [], "found_at": None, "killed_at": None}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and any(e["killed_at"] is None for e in exports.values()):
            time.sleep(0.2)
            for sig, e in exports.items():
                if e["killed_at"] is not None or e["proc"].poll() is not None:
                    continue
                if not e["workers"]:
                    e["workers"] = _descendants_named(e["proc"].pid, "export.onnx2tf_worker")
                    e["found_at"] = time.monotonic()
                elif time.monotonic() - e["found_at"] >= 2:  # mid-conversion
                    os.kill(e["proc"].pid, sig)
                    e["killed_at"] = time.monotonic()
            if any(e["killed_at"] is None and e["proc"].poll() is not None for e in exports.values()):
                break
        for sig, e in exports.items():
            assert e["workers"], f"{sig.name}: the onnx2tf worker never started"
            assert e["killed_at"] is not None, f"{sig.name}: the export ended before it could be killed"
            stderr = e["proc"].communicate(timeout=60)[1]
            gone = psutil.wait_procs(e["workers"], timeout=20)[1] == []
            assert gone, f"{sig.name}: onnx2tf worker still running after its parent died"
            if sig == signal.SIGTERM:
                assert e["proc"].returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
                assert list(e["temp"].iterdir()) == [], "temporary onnx2tf folder left behind"
                assert list(e["base"].iterdir()) == [e["temp"]], "export folder or its hidden temp left behind"
            else:
                assert not (e["base"] / "out").exists()
    finally:
        for e in exports.values():
            if e["proc"].poll() is None:
                e["proc"].kill()
                e["proc"].wait()
