"""Export test helpers: a checkpoint shaped like ``cli.py fit``'s, and two real exports made once per
session: ``exported`` (a checkpoint through ``cli.py export``) and ``rejected_export`` (fresh weights
whose every quantised rung misses its gate). tests/export/conftest.py registers them, the latency
tests import them."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

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


CLI_RECORD = "cli.json"
REJECTED_CALIBRATION_IMAGES = 40


def cli_once(base: Path, argv: list, patches: tuple = ()) -> dict:
    """``cli.main(argv)`` in this process, once per session, with ``ORCHARD_CACHE`` under ``base`` and
    ``patches`` (``(object, attribute, value)``) applied meanwhile: ``{"code", "stdout", "stderr"}``.

    The result is kept as ``base/cli.json``: each conftest or test module that imports a session fixture
    gets its own copy of it, and every copy after the first finds the first one's result there.
    """
    record = base / CLI_RECORD
    if not record.is_file():
        import cli

        base.mkdir(exist_ok=True)
        stdout, stderr = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch, redirect_stdout(stdout), redirect_stderr(stderr):
            patch.setenv("ORCHARD_CACHE", str(base / "cache"))
            for target, name, value in patches:
                patch.setattr(target, name, value)
            code = cli.main([str(a) for a in argv])
        record.write_text(json.dumps({"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}))
    return json.loads(record.read_text())


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_fruits) -> Path:
    """``cli.py export --ckpt ...`` (in this process) of a mobilenet_v2 checkpoint on the tiny synthetic data.

    Made once per test session, kept in the session's base temp folder (see :func:`cli_once`).
    """
    base = tmp_path_factory.getbasetemp() / "orchard-export"
    out, ckpt = base / "out", base / "best.ckpt"
    if not (base / CLI_RECORD).is_file():
        base.mkdir(exist_ok=True)
        lightning_style_checkpoint(ckpt, EXPORT_ARCH, tiny_fruits)
    result = cli_once(base, ["export", "--ckpt", ckpt, "--out", out])
    assert result["code"] == 0, result["stderr"][-2000:]
    assert "SYNTHETIC" in result["stdout"]
    return out


@pytest.fixture(scope="session")
def rejected_export(tmp_path_factory, tiny_fruits) -> dict:
    """``cli.py export --arch mobilenet_v2 ... --require int8`` (in this process) of fresh weights under a
    closeness limit no quantised model can meet (logit cosine >= 1.01): every rung of the ladder is tried
    and rejected, the float models stay, the command exits 2.

    Returns ``{"out": the export folder, "code": exit code, "stdout": ..., "stderr": ...}``; made once
    per test session, like ``exported``.
    """
    import export.source as source
    from export.parity import ParityThresholds

    base = tmp_path_factory.getbasetemp() / "orchard-rejected-export"
    out = base / "export"
    impossible = (source, "ParityThresholds", lambda: ParityThresholds(fresh_min_cosine=1.01))
    result = cli_once(base, ["export", "--arch", EXPORT_ARCH, "--data-root", tiny_fruits, "--per-class", "8",
                             "--calibration-images", REJECTED_CALIBRATION_IMAGES, "--out", out, "--require", "int8"],
                      patches=(impossible,))
    return {"out": out, **result}


def export_report(folder: Path) -> dict:
    """The ``export.json`` of an export folder."""
    return json.loads((folder / "export.json").read_text())
