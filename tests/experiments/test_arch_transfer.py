"""Every architecture through study 1: the common builder keywords, one-line errors for others, and a stage-3
step from a stage-2 checkpoint of itself with the architecture's own freeze points."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lightning_modules.architectures import (
    BUILDER_KEYWORDS,
    PAPER_TRAINABLE_PARAMS,
    ArchitectureKeywordError,
    build_model,
    builder_keywords,
    list_models,
    trainable_params,
)
from lightning_modules.init_from import read_state_dict
from lightning_modules.lightning_cli import make_cli
from lightning_modules.model_table import model_rows
from tests.conftest import REPO, run_cli

NAMES = list_models()


@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_takes_the_common_keywords_and_keeps_the_papers_count(name):
    assert builder_keywords(name) == list(BUILDER_KEYWORDS)
    net = build_model(name, num_classes=3, dropout=0.5)
    assert trainable_params(net) == PAPER_TRAINABLE_PARAMS[name]
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in net.head.modules())
    assert net.eval()(torch.zeros(2, 3, 100, 100)).shape == (2, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"drop": 0.1}, "architecture 'mobilenet_v2' takes no keyword 'drop' (model.arch_kwargs); it accepts: dropout"),
    ({"dropout": 1.5}, "architecture 'mobilenet_v2': dropout must be a number in [0, 1), got 1.5"),
])
def test_a_wrong_keyword_is_one_line_naming_the_architecture(kwargs, message):
    with pytest.raises(ArchitectureKeywordError) as error:
        build_model("mobilenet_v2", **kwargs)
    assert str(error.value) == message


def test_a_wrong_keyword_through_fit_is_one_error_line(tiny_fruits, tmp_path):
    result = run_cli("fit", "--config", "configs/scratch_fruits3.yaml", "--model.arch", "mobilenet_v2",
                     "--model.arch_kwargs", '{"drop_rate": 0.2}', "--data.init_args.root", str(tiny_fruits),
                     "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.max_epochs", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        "error: architecture 'mobilenet_v2' takes no keyword 'drop_rate' (model.arch_kwargs); it accepts: dropout"]


def test_models_lists_the_keywords_and_each_architectures_freeze_points():
    rows = {r["name"]: r for r in model_rows()}
    assert rows["alexnet"]["freeze_points"]["stage2"]["blocks"] == ["conv1", "conv2", "conv3"]
    assert rows["mobilenet_v1"]["freeze_points"]["stage3"]["blocks"] == rows["mobilenet_v1"]["blocks"]
    assert all(0 < r["freeze_points"]["stage2"]["frozen_share"] < r["freeze_points"]["stage3"]["frozen_share"] < 1
               for r in rows.values())
    assert all(r["keywords"] == ["dropout"] for r in rows.values())


def _fit(config: str, root: Path, save_dir: Path, arch: str, *extra: str):
    args = ["--config", str(REPO / "configs" / config), "--model.arch", arch, "--data.init_args.root", str(root),
            "--data.init_args.per_class", "8", "--data.init_args.batch_size", "8", "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
            "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks", "[]", "--trainer.enable_model_summary", "false", *extra]
    cli = make_cli(args, run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli


@pytest.mark.parametrize("arch", NAMES)
def test_stage_3_trains_a_step_from_a_stage_2_checkpoint_of_the_same_architecture(arch, tiny_fruits, tmp_path):
    stage2 = _fit("stage2_fruits.yaml", tiny_fruits, tmp_path, arch, "--model.init_from", "null")
    blocks = stage2.model.net.block_names
    assert stage2.model.frozen_blocks == blocks[:-1]  # the stage-2 freeze point: all but the last block
    ckpt = Path(stage2.trainer.log_dir) / "checkpoints" / "last.ckpt"
    stage3 = _fit("stage3_fruits3.yaml", tiny_fruits, tmp_path, arch, "--model.init_from", str(ckpt))
    assert stage3.model.frozen_blocks == blocks  # the stage-3 freeze point: every block
    assert stage3.trainer.global_step == 1
    before, after = read_state_dict(ckpt), stage3.model.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("features."))
    assert not torch.equal(before[f"{stage3.model.net.classifier_name}.weight"][:3], after[f"{stage3.model.net.classifier_name}.weight"])


def test_arch_list_runs_each_into_its_folder_and_reports_a_failure_beside_the_others(tiny_fruits, tmp_path, capsys):
    import cli

    out = tmp_path / "study"
    args = ["experiment", "transfer", "--arch", "alexnet,mobilenet_v2", "--n", "1", "--stages", "scratch",
            "--fruits-root", str(tiny_fruits), "--epochs-scratch", "1", "--per-class", "12", "--batch-size", "8",
            "--out", str(out)]
    blocked = out / "mobilenet_v2" / "runs" / "scratch-seed0"  # a finished run with other settings: refused
    blocked.mkdir(parents=True)
    (blocked / "record.json").write_text(json.dumps({
        "stage": "scratch", "seed": 0, "run_id": "scratch-seed0", "epochs": 9, "train_seconds": 1.0, "epoch_seconds": [1.0],
        "test_accuracy": 0.5, "val_accuracy": [0.5], "checkpoint": "x", "data": {}, "settings": [["--seed_everything", "7"]]}))
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: mobilenet_v2: {blocked} was trained with other settings")
    assert (out / "alexnet" / "runs" / "scratch-seed0" / "record.json").is_file()
    assert (out / "alexnet" / "report.md").is_file() and (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "| alexnet |" in report and "| mobilenet_v2 | failed: " in report and "*paper, alexnet (10 runs)*" in report
    results = json.loads((out / "results.json").read_text())
    assert list(results["summary"]) == ["alexnet"] and "mobilenet_v2" in results["failures"]


def test_an_unknown_architecture_in_the_list_is_one_line(capsys):
    import cli

    assert cli.main(["experiment", "transfer", "--arch", "alexnet,resnet50"]) == 2
    assert "unknown architecture 'resnet50'" in capsys.readouterr().err
