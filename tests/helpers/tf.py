"""Helpers for the TF-side tests: images for parity checks and BN statistics worth copying."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

REAL_FRUITS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fruits360-mini"
PARITY_CLASSES = ["Apple Braeburn", "Cocos", "Raspberry", "Mango"]


def parity_images(synthetic_root: Path, n: int = 8) -> tuple[torch.Tensor, str]:
    """``n`` normalised NCHW images from the real Fruits-360 subset when present, else synthetic ones."""
    from datamodules import Fruits360DataModule

    if REAL_FRUITS.is_dir():
        data = Fruits360DataModule(str(REAL_FRUITS), classes=PARITY_CLASSES, per_class=6, val_fraction=0.0)
        return data.sample_images(n, split="test"), "real"
    data = Fruits360DataModule(str(synthetic_root), per_class=4, val_fraction=0.0)
    return data.sample_images(n, split="test"), "synthetic"


def randomise_weights(net: nn.Module, seed: int = 0) -> nn.Module:
    """Weights that make every layer matter: fan-in Kaiming convs (activations of order 1, also
    through depthwise convs) and BatchNorms with non-trivial affine parameters and running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
    return net
