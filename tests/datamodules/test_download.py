"""Dataset download code, exercised without the network (file:// archives, a refused port)."""
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from datamodules import DataError, Fruits360DataModule
from datamodules.cifar import download_cifar
from datamodules.download import download_fruits360
from datamodules.synthetic import make_synthetic_fruits
from tests.helpers.cli import run_main


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


def test_data_synth_command_writes_a_marked_folder(tmp_path, capsys):
    root = tmp_path / "synth"
    code, out, err = run_main(capsys, "data", "synth", "--root", root, "--train-per-class", "2", "--test-per-class", "1")
    assert code == 0, err
    assert "SYNTHETIC" in out and (root / "SYNTHETIC").is_file()
    assert len(list((root / "Training").iterdir())) >= 10


def _fruits_zip(tmp_path) -> Path:
    src = make_synthetic_fruits(tmp_path / "src" / "fruits-360-100x100-main", 1, 1, classes=["Apple Braeburn", "Pear"])
    archive = tmp_path / "fruits.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in src.rglob("*"):
            z.write(p, p.relative_to(src.parent))
    return archive


def test_download_checks_an_expected_sha256_and_records_the_one_it_computed(tmp_path):
    archive = _fruits_zip(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(DataError, match=f"has sha256 {digest}, not {'0' * 64} as expected"):
        download_fruits360(tmp_path / "bad" / "fruits360", url=archive.as_uri(), sha256="0" * 64)
    assert list((tmp_path / "bad").iterdir()) == []  # nothing unpacked, no archive left
    root = download_fruits360(tmp_path / "good" / "fruits360", url=archive.as_uri(), sha256=digest.upper())
    assert json.loads((root / "DOWNLOAD.json").read_text())["sha256"] == digest
    assert (root / "Training" / "Pear").is_dir()


def _tar(path, members: dict) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_cifar_tar_members_outside_the_folder_are_refused_not_written(tmp_path):
    archive = _tar(tmp_path / "evil.tar.gz", {"cifar-10-batches-py/batches.meta": b"x", "../../escaped.txt": b"pwned"})
    with pytest.raises(DataError, match="cannot unpack the archive from .*OutsideDestinationError"):
        download_cifar("cifar10", tmp_path / "a" / "b" / "dl", url=archive.as_uri())
    assert not list(tmp_path.rglob("escaped.txt"))
    assert list((tmp_path / "a" / "b" / "dl").iterdir()) == []  # staging removed


def test_cifar_download_checks_sha256_before_unpacking(tmp_path):
    archive = _tar(tmp_path / "c.tar.gz", {"cifar-10-batches-py/batches.meta": b"x"})
    with pytest.raises(DataError, match="not 1234 as expected"):
        download_cifar("cifar10", tmp_path / "dl", url=archive.as_uri(), sha256="1234")
    assert list((tmp_path / "dl").iterdir()) == []


def test_data_synth_force_replaces_only_a_synthetic_sample_holding_nothing_else(tmp_path, capsys):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.txt").write_text("four years of work")
    code, _, err = run_main(capsys, "data", "synth", "--root", user, "--force", "--train-per-class", "1",
                            "--test-per-class", "1")
    assert code == 2 and err.strip().startswith("error: ") and "not a synthetic sample" in err
    assert len(err.strip().splitlines()) == 1 and (user / "thesis.txt").read_text() == "four years of work"

    sample = make_synthetic_fruits(tmp_path / "sample", 1, 1, classes=["Apple Braeburn", "Pear"])
    (sample / "notes.txt").write_text("mine")
    code, _, err = run_main(capsys, "data", "synth", "--root", sample, "--force", "--train-per-class", "1",
                            "--test-per-class", "1")
    assert code == 2 and "'notes.txt'" in err and (sample / "notes.txt").is_file()
    (sample / "notes.txt").unlink()
    code, _, err = run_main(capsys, "data", "synth", "--root", sample, "--force", "--train-per-class", "2",
                            "--test-per-class", "1")
    assert code == 0, err
    assert len(list((sample / "Training").iterdir())) > 2 and sorted(p.name for p in tmp_path.iterdir()) == ["sample", "thesis"]
