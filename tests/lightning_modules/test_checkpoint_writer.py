"""The checkpoint writer: Lightning's files and atomic replace; the callback's renames on a worker thread, in order."""
import os
import threading
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from pytorch_lightning.loggers import CSVLogger

from lightning_modules import checkpoint_writer
from lightning_modules.checkpoint_writer import BackgroundReplaceCheckpointIO
from lightning_modules.lightning_cli import make_cli


def _ckpt(value: float) -> dict:
    return {"state_dict": {"w": torch.full((3,), value)}, "epoch": int(value)}


def _parts(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture
def renames(monkeypatch):
    """Records the thread of every rename; ``renames.release`` holds them until set (ext4's slow replace)."""
    real_replace = os.replace
    calls = []
    release = threading.Event()
    release.set()

    def replace(src, dst):  # os.replace itself: other writers (the decode cache ...) rename too
        if str(dst).endswith(".ckpt"):
            calls.append(threading.current_thread().name)
            release.wait(10)
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_writer.os, "replace", replace)
    replace.calls, replace.release = calls, release
    return replace


@pytest.mark.parametrize("deferred", [False, True])
def test_saves_replace_in_order_and_leave_no_part_files(tmp_path, deferred):
    io = BackgroundReplaceCheckpointIO()
    target = tmp_path / "sub" / "last.ckpt"
    target.parent.mkdir()
    (target.parent / ".last.ckpt.part").write_bytes(b"left by a killed writer")
    with io.deferred() if deferred else nullcontext():
        for value in (1.0, 2.0, 3.0):
            io.save_checkpoint(_ckpt(value), target)
            if value == 2.0 and deferred:  # this save waited for the first one's rename, not for its own
                assert torch.load(target)["epoch"] in (1, 2)
    io.teardown()
    assert torch.equal(torch.load(target)["state_dict"]["w"], torch.full((3,), 3.0))
    assert _parts(target.parent) == []


def test_a_deferred_rename_runs_off_the_saving_thread_and_is_awaited(tmp_path, renames):
    renames.release.clear()
    io = BackgroundReplaceCheckpointIO()
    target = tmp_path / "last.ckpt"
    with io.deferred():
        io.save_checkpoint(_ckpt(1.0), target)  # returns while the rename is held
    assert not target.exists() and len(_parts(tmp_path)) == 1
    assert io.renaming(target) and io.renaming(f"file://{target}") and not io.renaming(tmp_path / "x.ckpt")
    loaded = []
    waiter = threading.Thread(target=lambda: loaded.append(io.load_checkpoint(target)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # a load waits for the rename before it
    renames.release.set()
    waiter.join(10)
    assert not waiter.is_alive() and loaded[0]["epoch"] == 1 and not io.renaming(target)
    io.teardown()
    assert renames.calls == ["checkpoint-replace"]
    assert torch.load(target)["epoch"] == 1 and _parts(tmp_path) == []


def test_any_other_save_has_its_file_in_place_when_it_returns(tmp_path, renames):
    io = BackgroundReplaceCheckpointIO()
    io.save_checkpoint(_ckpt(2.0), tmp_path / "x.ckpt")
    assert renames.calls == [threading.current_thread().name]
    assert torch.load(tmp_path / "x.ckpt")["epoch"] == 2


def test_a_failed_rename_is_raised_by_the_next_call_or_at_once(tmp_path):
    io = BackgroundReplaceCheckpointIO()
    target = tmp_path / "last.ckpt"
    target.mkdir()  # a folder in the way
    (target / "keep").write_text("x")
    with io.deferred():
        io.save_checkpoint(_ckpt(1.0), target)
    with pytest.raises(OSError):
        io.teardown()
    io.teardown()  # raised once
    with pytest.raises(OSError):
        io.save_checkpoint(_ckpt(1.0), target)  # not deferred: raised by the save itself
    assert _parts(tmp_path) == []


def test_a_failed_rename_does_not_replace_the_error_a_fit_is_ending_on(tmp_path, caplog):
    io = BackgroundReplaceCheckpointIO()
    (tmp_path / "last.ckpt").mkdir()
    (tmp_path / "last.ckpt" / "keep").write_text("x")
    with io.deferred():
        io.save_checkpoint(_ckpt(1.0), tmp_path / "last.ckpt")
    with pytest.raises(KeyboardInterrupt):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            io.teardown()  # as Lightning's interrupt handler calls it
            raise
    assert "checkpoint rename failed" in caplog.text


def test_file_urls_land_where_lightning_reads_them(tmp_path):
    io = BackgroundReplaceCheckpointIO()
    with io.deferred():
        io.save_checkpoint(_ckpt(5.0), f"file://{tmp_path}/sub/last.ckpt")
    io.teardown()
    assert torch.load(tmp_path / "sub" / "last.ckpt")["epoch"] == 5
    assert io.load_checkpoint(f"file://{tmp_path}/sub/last.ckpt")["epoch"] == 5


def test_paths_that_are_not_local_files_go_through_lightnings_writer():
    io = BackgroundReplaceCheckpointIO()
    with io.deferred():
        io.save_checkpoint(_ckpt(4.0), "memory://orchard-test/last.ckpt")
    assert io._pending is None
    assert io.load_checkpoint("memory://orchard-test/last.ckpt")["epoch"] == 4
    with pytest.raises(TypeError):
        io.save_checkpoint(_ckpt(1.0), "memory://orchard-test/x.ckpt", storage_options={"a": 1})


def test_a_cli_fit_defers_the_checkpoint_callbacks_renames_only(tiny_fruits, tmp_path, renames):
    cli = make_cli(["fit", "--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                    "--trainer.max_epochs", "3", "--trainer.logger.init_args.save_dir", str(tmp_path),
                    "--trainer.enable_progress_bar", "false"])
    assert isinstance(cli.trainer.strategy.checkpoint_io, BackgroundReplaceCheckpointIO)
    folder = next(tmp_path.rglob("checkpoints"))
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]  # no .part left
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2
    assert len(renames.calls) >= 3 and set(renames.calls) == {"checkpoint-replace"}
    cli.trainer.save_checkpoint(tmp_path / "by_hand.ckpt")  # after the fit, as a user would
    assert renames.calls[-1] == threading.current_thread().name and (tmp_path / "by_hand.ckpt").is_file()


def test_a_name_whose_rename_is_under_way_counts_as_taken(tiny_fruits, tmp_path, renames):
    cli = make_cli(["--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                    "--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path)], run=False)
    writer, target = cli.trainer.strategy.checkpoint_io, tmp_path / "epoch=0.ckpt"
    renames.release.clear()
    with writer.deferred():
        writer.save_checkpoint(_ckpt(0.0), target)
    assert not target.exists() and cli.checkpoint.file_exists(str(target), cli.trainer)  # a second save gets -v1
    renames.release.set()
    writer.teardown()
    assert cli.checkpoint.file_exists(str(target), cli.trainer)
    assert not cli.checkpoint.file_exists(str(tmp_path / "other.ckpt"), cli.trainer)


class SeesItsCheckpoints(CSVLogger):
    """A logger that reads each checkpoint when told about it, as W&B and MLflow upload them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def after_save_checkpoint(self, checkpoint_callback):
        self.seen.append(Path(checkpoint_callback._last_checkpoint_saved).is_file())


def test_a_logger_that_reads_checkpoints_finds_them_in_place(tiny_fruits, tmp_path, renames):
    cli = make_cli(["--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                    "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"], run=False)
    logger = SeesItsCheckpoints(tmp_path)
    cli.trainer.loggers = [logger]
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert len(logger.seen) >= 2 and all(logger.seen)
    assert set(renames.calls) == {threading.current_thread().name}  # not deferred with such a logger
