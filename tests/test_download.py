"""Dataset download code, exercised without the network (file:// archives, a refused port)."""
import zipfile

import pytest

from datamodules import DataError, Fruits360DataModule
from datamodules.download import download_fruits360
from datamodules.synthetic import make_synthetic_fruits
from tests.conftest import run_cli


def test_download_unpacks_an_archive_into_the_fruits360_layout(tmp_path):
    src = make_synthetic_fruits(tmp_path / "src" / "fruits-360-100x100-main", 2, 1, classes=["Apple Braeburn", "Pear", "Kiwi"])
    archive = tmp_path / "fruits.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in src.rglob("*"):
            z.write(p, p.relative_to(src.parent))
    root = download_fruits360(tmp_path / "data" / "fruits360", url=archive.as_uri())
    assert Fruits360DataModule(str(root), grouping="apple_pear_noise").class_names == ["apple", "pear", "noise"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["fruits360"]  # no archive or staging left


def test_download_offline_fails_with_one_clear_line_and_leaves_nothing(tmp_path):
    with pytest.raises(DataError, match="cannot download http://127.0.0.1:9/fruits.zip: .*no network"):
        download_fruits360(tmp_path / "fruits360", url="http://127.0.0.1:9/fruits.zip")
    assert list(tmp_path.iterdir()) == []


def test_download_rejects_an_archive_without_the_layout(tmp_path):
    archive = tmp_path / "junk.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "nothing here")
    with pytest.raises(DataError, match="has no Training/ and Test/ folders"):
        download_fruits360(tmp_path / "out" / "fruits360", url=archive.as_uri())
    assert list((tmp_path / "out").iterdir()) == []


def test_data_synth_command_writes_a_marked_folder(tmp_path):
    root = tmp_path / "synth"
    r = run_cli("data", "synth", "--root", str(root), "--train-per-class", "2", "--test-per-class", "1")
    assert r.returncode == 0, r.stderr
    assert "SYNTHETIC" in r.stdout and (root / "SYNTHETIC").is_file()
    assert len(list((root / "Training").iterdir())) >= 10
