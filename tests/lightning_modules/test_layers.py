"""orchard's Dropout: the same masks, outputs, gradients and generator state as torch's, drawn faster."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lightning_modules.architectures import build_model
from lightning_modules.architectures.layers import Dropout


def _run(module: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    x = x.clone().requires_grad_(True)
    y = module(x)
    (y.float() * torch.arange(y.numel(), dtype=torch.float32).view(y.shape)).sum().backward()
    return y.detach(), x.grad, torch.get_rng_state()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("shape,layout", [((32, 512), None), ((7,), None), ((2, 3, 4, 5), None),
                                          ((24, 40), "transposed"), ((4, 6, 5, 7), "channels_last")])
def test_training_output_gradient_and_generator_state_equal_torch_s_dropout(dtype, p, shape, layout):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    if layout == "transposed":
        x = x.t()
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    ours, theirs = _run(Dropout(p).train(), x, seed=3), _run(nn.Dropout(p).train(), x, seed=3)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    if x.numel() >= 100:  # a real mask: some elements dropped, some kept
        assert 0 < (ours[0] == 0).float().mean() < 1


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_evaluation_and_edge_probabilities_behave_as_torch_s_dropout(p):
    x = torch.randn(4, 6)
    assert torch.equal(Dropout(p).eval()(x), x)
    torch.manual_seed(0)
    ours = Dropout(p).train()(x)
    torch.manual_seed(0)
    assert torch.equal(ours, nn.Dropout(p).train()(x))


def test_inplace_dropout_keeps_torch_s_path():
    x = torch.randn(4, 6)
    torch.manual_seed(0)
    ours = Dropout(0.5, inplace=True).train()(x.clone())
    torch.manual_seed(0)
    assert torch.equal(ours, nn.Dropout(0.5, inplace=True).train()(x.clone()))


@pytest.mark.parametrize("arch", ["alexnet", "mobilenet_v2"])
def test_heads_with_dropout_train_to_the_same_weights_as_with_torch_s_dropout(arch):
    torch.manual_seed(0)
    net = build_model(arch, num_classes=3, dropout=0.5)
    assert any(type(m) is Dropout for m in net.head.modules())
    reference = copy.deepcopy(net)
    for parent in list(reference.modules()):
        for name, child in parent.named_children():
            if type(child) is Dropout:
                setattr(parent, name, nn.Dropout(child.p))
    assert not any(type(m) is Dropout for m in reference.modules())
    x, y = torch.randn(6, 3, 100, 100), torch.tensor([0, 1, 2, 0, 1, 2])
    for model in (net, reference):
        torch.manual_seed(5)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, a), b in zip(net.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
