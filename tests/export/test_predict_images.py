"""``cli.py predict-images``: photos -> CSV with a .tflite (its own metadata) or a checkpoint; one-line errors."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from export.metadata import strip_metadata
from tests.helpers.export import export_report
from tests.conftest import REPO
from tests.helpers.cli import run_main


def _predict(capsys, *args) -> tuple[int, str, str]:
    return run_main(capsys, "predict-images", *args)


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def _one_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_tflite_and_checkpoint_give_the_same_labels_on_a_folder(exported, tiny_fruits, tmp_path, capsys):
    test_dir = tiny_fruits / "Test"
    results = {}
    for name, model in (("ckpt", exported.parent / "best.ckpt"), ("float32", exported / "model_float32.tflite")):
        out = tmp_path / f"{name}.csv"
        code, stdout, err = _predict(capsys, model, test_dir, "--out", out, "--labels-from-folders")
        assert code == 0, err
        assert "classified 104 photo(s)" in stdout and "accuracy" in stdout and "grouped apple_pear_noise" in stdout
        results[name] = _rows(out)
    assert set(results["ckpt"]) == set(results["float32"]) and len(results["ckpt"]) == 13 * 8
    same = sum(results["ckpt"][p]["label"] == results["float32"][p]["label"] for p in results["ckpt"])
    assert same == len(results["ckpt"])
    assert {r["label"] for r in results["ckpt"].values()} <= {"apple", "pear", "noise"}
    assert all(0 < float(r["probability"]) <= 1 and r["error"] == "" for r in results["float32"].values())


def test_one_line_errors_and_a_corrupt_photo_reported_beside_the_others(exported, tiny_fruits, tmp_path, capsys):
    stripped = tmp_path / "stripped.tflite"
    shutil.copyfile(exported / "model_float32.tflite", stripped)
    strip_metadata(stripped)
    photos = tmp_path / "photos"
    photos.mkdir()
    good = sorted((tiny_fruits / "Test").rglob("*.jpg"))[:3]
    for p in good:
        shutil.copyfile(p, photos / p.name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    model = exported / "model_float32.tflite"

    assert "carries no orchard metadata" in _one_error(*_predict(capsys, stripped, photos)[::2])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no JPEG/PNG photos in folder" in _one_error(*_predict(capsys, model, empty)[::2])
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    assert "not a JPEG/PNG photo" in _one_error(*_predict(capsys, model, notes)[::2])
    assert "broken.jpg" in _one_error(*_predict(capsys, model, photos / "broken.jpg")[::2])
    assert "neither a .tflite model nor" in _one_error(*_predict(capsys, notes, photos)[::2])
    assert "does not exist" in _one_error(*_predict(capsys, model, tmp_path / "missing")[::2])

    out = tmp_path / "preds.csv"
    code, stdout, err = _predict(capsys, model, photos, "--out", out)
    assert code == 0 and "classified 3 photo(s)" in stdout
    assert "1 photo(s) could not be decoded" in stdout and "broken.jpg" in stdout
    rows = _rows(out)
    assert len(rows) == 4 and rows[str(photos / "broken.jpg")]["label"] == ""
    assert "broken.jpg" in rows[str(photos / "broken.jpg")]["error"]
    assert sum(r["label"] != "" for r in rows.values()) == 3


@pytest.mark.slow
def test_int8_tflite_agrees_with_its_checkpoint_on_real_photos(fruits_mini, tmp_path, capsys):
    """A model trained a few epochs on fruits360-mini, exported (judged on every real image there is);
    its quantised .tflite and its checkpoint label the real Test photos alike (>= 99 %). The commands
    run through ``cli.main`` in this process (the process boundary is tested elsewhere)."""
    runs = tmp_path / "runs"
    code, _, err = run_main(capsys, "fit", "--config", REPO / "configs" / "scratch_fruits3.yaml", "--data.init_args.root",
                            fruits_mini, "--data.init_args.per_class", "60", "--trainer.max_epochs", "6",
                            f"--trainer.logger.init_args.save_dir={runs}", "--trainer.enable_progress_bar", "false")
    assert code == 0, err[-2000:]
    ckpt = next(runs.rglob("last.ckpt"))
    out = tmp_path / "export"
    code, stdout, err = run_main(capsys, "export", "--ckpt", ckpt, "--out", out)
    assert code == 0, err[-2000:]
    report = export_report(out)
    assert report["parity"]["images"] > 9000 and report["quantization"]["deliverable"], stdout
    quantised = out / report["tflite"]["int8"]["file"]
    rows = {}
    for name, model in (("ckpt", ckpt), ("int8", quantised)):
        code, stdout, err = _predict(capsys, model, fruits_mini / "Test", "--out", tmp_path / f"{name}.csv",
                                     "--labels-from-folders")
        assert code == 0, err[-2000:]
        assert "accuracy" in stdout
        rows[name] = _rows(tmp_path / f"{name}.csv")
    assert len(rows["ckpt"]) > 2000 and set(rows["ckpt"]) == set(rows["int8"])
    same = sum(rows["ckpt"][p]["label"] == rows["int8"][p]["label"] for p in rows["ckpt"]) / len(rows["ckpt"])
    assert same >= 0.99, f"{same:.2%} of {len(rows['ckpt'])} real Test photos labelled alike"
