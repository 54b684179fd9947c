"""Checkpoints are data, never code: a checkpoint whose pickle would create a file is refused unread,
by every path that opens one (export, init_from, --ckpt_path, the study runner), in one line."""
from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch

import cli
from lightning_modules.checkpoint_io import CheckpointError, read_checkpoint
from tests.conftest import REPO

CONFIG = str(REPO / "configs" / "scratch_fruits3.yaml")


class Trap:
    """Unpickling this calls ``Path(marker).touch()``: code run by merely loading the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.fixture
def trap(tmp_path) -> tuple[Path, Path]:
    """(booby-trapped checkpoint, the file its pickle would create); looks like a Lightning checkpoint."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "trap.ckpt"
    torch.save({"state_dict": {"net.x": torch.zeros(1)}, "hyper_parameters": {"arch": "alexnet", "num_classes": 3},
                "callbacks": {"TrainingTimer": {"epoch_seconds": [1.0]}}, "payload": Trap(marker)}, path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the trap works: an unrestricted load runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0]


def test_the_reader_refuses_the_payload_without_running_it(trap):
    path, marker = trap
    with pytest.raises(CheckpointError, match="never code"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    lambda ckpt, tmp, data: ["export", "--ckpt", str(ckpt), "--out", str(tmp / "export")],
    lambda ckpt, tmp, data: ["fit", "--config", CONFIG, "--model.init_from", str(ckpt), "--data.init_args.root", str(data),
                             "--trainer.logger.init_args.save_dir", str(tmp / "runs")],
    lambda ckpt, tmp, data: ["test", "--config", CONFIG, "--ckpt_path", str(ckpt), "--data.init_args.root", str(data),
                             "--trainer.logger.init_args.save_dir", str(tmp / "runs")],
], ids=["export --ckpt", "fit --model.init_from", "test --ckpt_path"])
def test_every_cli_path_refuses_it_in_one_line(trap, tmp_path, tiny_fruits, capsys, argv):
    path, marker = trap
    assert cli.main(argv(path, tmp_path, tiny_fruits)) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "never code" in line
    assert not marker.exists()
    assert not (tmp_path / "export").exists() and not (tmp_path / "runs").exists()


def test_the_study_runner_does_not_resume_from_it(trap):
    from lightning_modules.trainer import finished_epochs

    path, marker = trap
    assert finished_epochs(path) is None  # treated as unusable: the run starts afresh
    assert not marker.exists()
