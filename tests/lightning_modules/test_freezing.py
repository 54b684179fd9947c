"""Staged freezing: frozen blocks do not move (weights and BatchNorm statistics), never reach the
optimizer and get no gradient, for all four architectures, through a real Lightning fit."""
from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from datamodules.cifar import CIFARDataModule
from datamodules.synthetic_cifar import make_synthetic_cifar
from lightning_modules.architectures import list_models
from lightning_modules.classifier import ImageClassifier
from lightning_modules.freezing import FreezeError, resolve_frozen_blocks
from lightning_modules.lightning_cli import make_cli

# The paper's stage 2 freezes conv1-conv3: the first three blocks of every architecture.
FREEZE_FIRST = 3


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory) -> Path:
    """10 classes x 3 train / 1 test images of 32x32, CIFAR-10 layout (synthetic)."""
    return make_synthetic_cifar(tmp_path_factory.mktemp("cifar") / "cifar", "cifar10", train_per_class=3, test_per_class=1)


def tiny_data(root: Path) -> CIFARDataModule:
    return CIFARDataModule(str(root), dataset="cifar10", batch_size=8, val_fraction=0.2)


def quick_fit(model: pl.LightningModule, data: pl.LightningDataModule, epochs: int = 2) -> pl.Trainer:
    """A real fit with validation (and its sanity check), as the CLI runs it, minus the files."""
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=1)
    trainer.fit(model, datamodule=data)
    return trainer


def block_state(model: ImageClassifier, names: list[str]) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (BatchNorm running stats and counters included) of the named blocks."""
    return {f"{n}.{k}": v.detach().clone() for n in names for k, v in model.net.block(n).state_dict().items()}


def batchnorms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("arch", list_models())
def test_frozen_blocks_weights_and_batchnorm_stats_are_bit_identical_after_a_fit(arch, tiny_cifar):
    model = ImageClassifier(arch=arch, num_classes=10, freeze=FREEZE_FIRST)
    frozen, trainable = model.frozen_blocks, [b for b in model.net.block_names if b not in model.frozen_blocks]
    assert frozen == model.net.block_names[:FREEZE_FIRST]
    before_frozen, before_trainable = block_state(model, frozen), block_state(model, trainable)
    before_head = {k: v.clone() for k, v in model.net.head.state_dict().items()}
    assert batchnorms(model.net.features[:FREEZE_FIRST]), "the frozen prefix should hold BatchNorm layers to test"

    trainer = quick_fit(model, tiny_data(tiny_cifar))
    assert trainer.global_step > 0

    after_frozen = block_state(model, frozen)
    for key, value in before_frozen.items():
        assert torch.equal(value, after_frozen[key]), f"{arch}: frozen {key} changed"
    after_trainable = block_state(model, trainable)
    assert any(not torch.equal(v, after_trainable[k]) for k, v in before_trainable.items()), f"{arch}: trainable blocks did not train"
    assert any(not torch.equal(v, model.net.head.state_dict()[k]) for k, v in before_head.items())
    # BatchNorm layers that train keep updating their statistics (only the frozen ones are held).
    trainable_bn = batchnorms(nn.ModuleList(model.net.block(b) for b in trainable))
    assert all(int(bn.num_batches_tracked) > 0 for bn in trainable_bn)


@pytest.mark.parametrize("arch", list_models())
def test_only_trainable_parameters_reach_the_optimizer(arch):
    model = ImageClassifier(arch=arch, num_classes=5, freeze=FREEZE_FIRST)
    optimizer = model.configure_optimizers()
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    frozen = {id(p) for b in model.frozen_blocks for p in model.net.block(b).parameters()}
    assert in_optimizer == trainable and frozen and not frozen & in_optimizer
    assert all(not p.requires_grad for b in model.frozen_blocks for p in model.net.block(b).parameters())
    assert model.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("arch", list_models())
def test_no_gradient_is_computed_through_the_frozen_prefix(arch):
    model = ImageClassifier(arch=arch, num_classes=4, freeze=FREEZE_FIRST).train()
    seen = {}
    last_frozen = model.net.block(model.frozen_blocks[-1])
    last_frozen.register_forward_hook(lambda m, i, out: seen.update(requires_grad=out.requires_grad, grad_fn=out.grad_fn))
    x = torch.randn(2, 3, 100, 100).contiguous(memory_format=torch.channels_last)
    loss = model.training_step((x, torch.tensor([0, 3])), 0)
    loss.backward()
    assert seen == {"requires_grad": False, "grad_fn": None}  # no autograd graph below the trainable blocks
    for name in model.frozen_blocks:
        assert all(p.grad is None for p in model.net.block(name).parameters())
    first_trainable = model.net.block(model.net.block_names[FREEZE_FIRST])
    assert all(p.grad is not None for p in first_trainable.parameters())


def test_a_frozen_block_in_the_middle_still_passes_gradients_to_the_blocks_below():
    model = ImageClassifier(arch="alexnet", num_classes=3, freeze=["conv2"]).train()
    x = torch.randn(2, 3, 100, 100)
    model.training_step((x, torch.tensor([0, 2])), 0).backward()
    assert all(p.grad is None for p in model.net.block("conv2").parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.net.block("conv1").parameters())


def test_frozen_blocks_stay_in_eval_mode_whatever_train_and_eval_are_called():
    model = ImageClassifier(arch="mobilenet_v1", num_classes=3, freeze=2)
    frozen = [m for b in ("stem", "block1") for m in model.net.block(b).modules()]
    rest = [m for b in ("block2", "block3", "block4") for m in model.net.block(b).modules()] + [model.net.head]
    assert not any(m.training for m in frozen) and all(m.training for m in rest)
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert not any(m.training for m in frozen) and all(m.training for m in rest)


@pytest.mark.parametrize("arch, spec, expected", [
    ("alexnet", 4, ["conv1", "conv2", "conv3", "conv4"]),
    ("alexnet_separable", ["conv3", "conv1"], ["conv1", "conv3"]),
    ("mobilenet_v1", 2, ["stem", "block1"]),
    ("mobilenet_v2", None, []),
    ("mobilenet_v2", 0, []),
    ("alexnet", -1, ["conv1", "conv2", "conv3"]),
    ("mobilenet_v1", "all", ["stem", "block1", "block2", "block3", "block4"]),
    ("mobilenet_v1", "block2", ["block2"]),
    # study 1's freeze points: every block but the last (stage 2), every block (stage 3); the paper's on AlexNet
    ("alexnet", "stage2", ["conv1", "conv2", "conv3"]),
    ("alexnet_separable", "stage3", ["conv1", "conv2", "conv3", "conv4"]),
    ("mobilenet_v2", "stage2", ["stem", "block1", "block2", "block3", "block4"]),
    ("mobilenet_v2", "stage3", ["stem", "block1", "block2", "block3", "block4", "block5"]),
])
def test_freeze_accepts_a_block_count_or_block_names(arch, spec, expected):
    model = ImageClassifier(arch=arch, num_classes=3, freeze=spec)
    assert resolve_frozen_blocks(model.net, spec) == expected == model.frozen_blocks


@pytest.mark.parametrize("spec, message", [
    (5, "freeze=5: AlexNet has 4 feature blocks (conv1, conv2, conv3, conv4)"),
    (-4, "freeze=-4: AlexNet has 4 feature blocks"),
    ("stage9", "unknown block(s) stage9 for AlexNet"),
    (["conv9"], "unknown block(s) conv9 for AlexNet; blocks are: conv1, conv2, conv3, conv4"),
    (True, "freeze must be a block count or a list of block names"),
])
def test_impossible_freezes_fail_with_a_message_naming_the_blocks(spec, message):
    with pytest.raises(FreezeError) as error:
        ImageClassifier(arch="alexnet", num_classes=3, freeze=spec)
    assert message in str(error.value)


@pytest.mark.parametrize("value, expected", [("3", ["conv1", "conv2", "conv3"]), ("[conv1, conv4]", ["conv1", "conv4"]),
                                             ("stage2", ["conv1", "conv2", "conv3"]), ("all", ["conv1", "conv2", "conv3", "conv4"])])
def test_freeze_is_a_model_argument_of_the_cli(value, expected, tiny_cifar, tmp_path):
    cli = make_cli(["--data", "datamodules.cifar.CIFARDataModule", "--data.root", str(tiny_cifar), "--data.dataset", "cifar10",
                    "--model.freeze", value, "--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path)], run=False)
    assert cli.model.frozen_blocks == expected
    assert cli.model.hparams.num_classes == 10  # linked from the CIFAR datamodule
