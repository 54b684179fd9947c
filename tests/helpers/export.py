"""Export test helpers: a checkpoint shaped like ``cli.py fit``'s, and the ``exported`` fixture (one real
export, checkpoint -> CLI, made once per session; tests/export/conftest.py registers it, the latency
tests import it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

EXPORT_ARCH = "mobilenet_v2"  # smallest net; its pooling head is the one that needed the Transpose fix


def lightning_style_checkpoint(path: Path, arch: str, data_root: Path, seed: int = 0) -> Path:
    """A checkpoint with the keys ``python cli.py fit`` writes (``net.*`` weights, hyper-parameters).

    The weights are randomised so every layer matters (logits of order 1, not ~0 as fresh BN gives).
    """
    from lightning_modules.architectures import build_model
    from tests.helpers.tf import randomise_weights

    torch.manual_seed(seed)
    net = randomise_weights(build_model(arch, num_classes=3), seed)
    torch.save({
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "hyper_parameters": {"arch": arch, "num_classes": 3, "arch_kwargs": None},
        "datamodule_hyper_parameters": {"_class_path": "datamodules.Fruits360DataModule", "root": str(data_root),
                                        "grouping": "apple_pear_noise", "per_class": 400, "seed": 0},
    }, path)
    return path


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_fruits) -> Path:
    """``python cli.py export --ckpt ...`` of a mobilenet_v2 checkpoint on the tiny synthetic data.

    Made once per test session: each conftest or test module that imports this fixture gets its own
    session-scoped copy of it, so the export is kept in the session's base temp folder.
    """
    base = tmp_path_factory.getbasetemp() / "orchard-export"
    out = base / "out"
    if (out / "export.json").is_file():
        return out
    base.mkdir(exist_ok=True)
    ckpt = lightning_style_checkpoint(base / "best.ckpt", EXPORT_ARCH, tiny_fruits)
    proc = run_cli("export", "--ckpt", str(ckpt), "--out", str(out),
                   env={"ORCHARD_CACHE": str(base / "cache")}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SYNTHETIC" in proc.stdout
    return out


def export_report(folder: Path) -> dict:
    """The ``export.json`` of an export folder."""
    return json.loads((folder / "export.json").read_text())
