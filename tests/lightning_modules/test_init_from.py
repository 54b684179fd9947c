"""``init_from``: a stage starts from an earlier stage's Lightning checkpoint (weights only), the classifier
(or the whole head) starts afresh when the class count differs, another architecture fails naming keys,
``--ckpt_path`` still resumes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cli
from datamodules.synthetic_cifar import make_synthetic_cifar
from lightning_modules.architectures import build_model
from lightning_modules.callbacks import TrainingTimer
from lightning_modules.checkpoint_io import read_checkpoint
from lightning_modules.classifier import ImageClassifier
from lightning_modules.init_from import CheckpointError, load_weights, read_state_dict
from lightning_modules.lightning_cli import make_cli


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory) -> Path:
    return make_synthetic_cifar(tmp_path_factory.mktemp("cifar") / "cifar", "cifar10", train_per_class=3, test_per_class=1)


def stage_args(data_root: Path, out: Path, *extra: str) -> list[str]:
    """A CIFAR-10 stage through the real CLI: 10 classes, batches of 8, files under ``out``."""
    return ["fit", "--data", "datamodules.cifar.CIFARDataModule", "--data.root", str(data_root),
            "--data.dataset", "cifar10", "--data.batch_size", "8", "--data.val_fraction", "0.2",
            "--trainer.logger", "false", "--trainer.default_root_dir", str(out), "--trainer.callbacks", "[]",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--checkpoint.dirpath", str(out / "checkpoints"), *extra]


@pytest.fixture(scope="module")
def stage_checkpoint(tiny_cifar, tmp_path_factory) -> Path:
    """A real Lightning checkpoint of a 10-class AlexNet after one short epoch."""
    out = tmp_path_factory.mktemp("stage")
    make_cli(stage_args(tiny_cifar, out, "--trainer.max_epochs", "1"))
    return out / "checkpoints" / "last.ckpt"


def features(net) -> dict[str, torch.Tensor]:
    return {k: v for k, v in net.state_dict().items() if k.startswith("features.")}


def test_a_lightning_checkpoint_reads_as_the_net_state_dict(stage_checkpoint):
    state = read_state_dict(stage_checkpoint)
    assert "features.conv1.0.weight" in state and "head.1.4.weight" in state
    assert state["head.1.4.weight"].shape[0] == 10 and not any(k.startswith("net.") for k in state)


def test_init_from_keeps_the_hidden_layers_and_starts_a_new_classifier_for_another_class_count(stage_checkpoint):
    state = read_state_dict(stage_checkpoint)
    model = ImageClassifier(arch="alexnet", num_classes=3, init_from=str(stage_checkpoint))
    assert model.net.classifier_name == "head.1.4"
    for key, value in model.net.state_dict().items():
        if not key.startswith("head.1.4."):
            assert torch.equal(value, state[key]), key  # features and the hidden dense layers
    assert model.net.state_dict()["head.1.4.weight"].shape == (3, 512)


def test_reset_head_all_starts_the_whole_head_afresh(stage_checkpoint):
    state = read_state_dict(stage_checkpoint)
    model = ImageClassifier(arch="alexnet", num_classes=3, init_from=str(stage_checkpoint), reset_head="all")
    for key, value in features(model.net).items():
        assert torch.equal(value, state[key]), key
    head = model.net.head.state_dict()
    assert head["1.4.weight"].shape == (3, 512)
    assert not torch.equal(head["1.0.weight"], state["head.1.0.weight"])  # the whole head is new


def test_hidden_layers_of_another_dropout_layout_fail_naming_the_keys(stage_checkpoint):
    """Dropout layers shift the head's layer indices: the hidden layers cannot be matched, so say so."""
    with pytest.raises(CheckpointError) as error:
        ImageClassifier(arch="alexnet", num_classes=3, init_from=str(stage_checkpoint), arch_kwargs={"dropout": 0.5})
    message = str(error.value)
    assert "hidden layers" in message and "missing: head.1.3.bias" in message and "reset_head='all'" in message
    model = ImageClassifier(arch="alexnet", num_classes=3, init_from=str(stage_checkpoint), arch_kwargs={"dropout": 0.5},
                            reset_head="all")
    assert torch.equal(model.net.state_dict()["features.conv4.0.weight"],
                       read_state_dict(stage_checkpoint)["features.conv4.0.weight"])


def test_init_from_keeps_the_head_when_the_class_count_matches(stage_checkpoint):
    net = build_model("alexnet", num_classes=10)
    assert load_weights(net, stage_checkpoint) == []
    state = read_state_dict(stage_checkpoint)
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_what_starts_afresh_is_reported(stage_checkpoint):
    assert load_weights(build_model("alexnet", num_classes=4), stage_checkpoint) == ["head.1.4.bias", "head.1.4.weight"]
    dropped = load_weights(build_model("alexnet", num_classes=4), stage_checkpoint, reset_head="all")
    assert dropped == sorted(k for k in build_model("alexnet", num_classes=4).state_dict() if k.startswith("head."))


@pytest.mark.parametrize("arch, named", [
    ("mobilenet_v1", ["missing: features.block1", "unexpected: features.conv1"]),
    ("alexnet_separable", ["features.conv1.0.weight"]),
])
def test_a_checkpoint_of_another_architecture_fails_naming_the_keys(stage_checkpoint, arch, named):
    with pytest.raises(CheckpointError) as error:
        ImageClassifier(arch=arch, num_classes=3, init_from=str(stage_checkpoint))
    message = str(error.value)
    assert str(stage_checkpoint) in message and "\n" not in message
    for part in named:
        assert part in message


def test_a_missing_or_unreadable_checkpoint_fails_naming_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        ImageClassifier(init_from=str(tmp_path / "nope.ckpt"))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"{junk} is not a readable PyTorch checkpoint"):
        ImageClassifier(init_from=str(junk))


def test_the_cli_reports_a_bad_init_from_in_one_line(tiny_cifar, tmp_path, capsys):
    code = cli.main(stage_args(tiny_cifar, tmp_path, "--model.init_from", str(tmp_path / "missing.ckpt")))
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: checkpoint {tmp_path / 'missing.ckpt'} does not exist"


def test_ckpt_path_resumes_a_frozen_stage_that_started_from_init_from(tiny_cifar, stage_checkpoint, tmp_path):
    args = ["--model.init_from", str(stage_checkpoint), "--model.freeze", "3", "--data.dataset", "cifar10"]
    first = make_cli(stage_args(tiny_cifar, tmp_path, "--trainer.max_epochs", "1", *args))
    steps = first.trainer.global_step
    last = tmp_path / "checkpoints" / "last.ckpt"
    after_first = read_state_dict(last)

    resumed = make_cli(stage_args(tiny_cifar, tmp_path, "--trainer.max_epochs", "2", "--ckpt_path", str(last), *args))
    assert resumed.trainer.current_epoch == 2 and resumed.trainer.global_step == 2 * steps
    timer = next(c for c in resumed.trainer.callbacks if isinstance(c, TrainingTimer))
    assert timer.result["epochs"] == 2  # the resumed epoch list continues the first one
    final = resumed.model.net.state_dict()
    origin = read_state_dict(stage_checkpoint)
    for key in ("features.conv1.0.weight", "features.conv1.2.running_mean", "features.conv3.0.bias"):
        assert torch.equal(final[key], origin[key]), key  # frozen: still stage 1's
    assert not torch.equal(final["features.conv4.0.weight"], after_first["features.conv4.0.weight"])  # trained on


def test_last_ckpt_holds_the_last_epoch_even_when_validation_stops_improving(tiny_cifar, tmp_path):
    # lr 0: validation accuracy never improves after epoch 0, so only Lightning's best-epoch save fires.
    cli_ = make_cli(stage_args(tiny_cifar, tmp_path, "--trainer.max_epochs", "3", "--model.lr", "0.0"))
    last = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    best = read_checkpoint(tmp_path / "checkpoints" / "best.ckpt")
    assert last["global_step"] == cli_.trainer.global_step and last["epoch"] == 2
    assert best["global_step"] < last["global_step"]
