"""Artifacts appear under their final names only when complete, with the usual permissions."""
import os

import pytest

from common.atomic import atomic_dir, atomic_path, write_json_atomic, write_text_atomic
from common.errors import OutputFolderError


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_folders_get_the_umask_mode_not_the_temp_mode(tmp_path):
    f = write_text_atomic(tmp_path / "a.txt", "hi")
    assert f.read_text() == "hi" and f.stat().st_mode & 0o777 == 0o644
    with atomic_dir(tmp_path / "out") as d:
        (d / "x").write_text("1")
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    with atomic_path(tmp_path / "b.bin") as p:
        p.write_bytes(b"1")
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644


def test_a_failure_leaves_nothing_under_the_final_name(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as d:
            (d / "half").write_text("half-written")
            raise RuntimeError("conversion failed")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f.json") as p:
            p.write_text("{")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_an_old_folder_only_on_success(tmp_path):
    with atomic_dir(tmp_path / "out") as d:
        (d / "v1").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "out", own=("v*",)) as d:
            (d / "v2").write_text("2")
            raise ValueError
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["v1"]
    with atomic_dir(tmp_path / "out", own=("v*",)) as d:
        (d / "v3").write_text("3")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["v3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("I am a file")
    with pytest.raises(OutputFolderError, match="is a file"):
        with atomic_dir(tmp_path / "out"):
            pass
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert (tmp_path / "r.json").read_text().strip() == '{\n  "a": 1\n}'


def test_output_folder_with_a_users_file_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out, own=("results.json",)) as d:
        (d / "results.json").write_text("1")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="notes.txt"):
        with atomic_dir(out, own=("results.json",)) as d:
            (d / "results.json").write_text("2")
    assert (out / "notes.txt").read_text() == "mine" and (out / "results.json").read_text() == "1"
    # a file that the new output also writes is ours, whatever the patterns say
    with atomic_dir(out, own=("results.json", "notes.txt")) as d:
        (d / "results.json").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    (out / "thesis.txt").write_text("mine")
    with atomic_dir(out, own=("results.json",), overwrite=True) as d:
        (d / "results.json").write_text("4")
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
