"""Floating-point work per image: what the measured throughputs are divided into."""
from __future__ import annotations

import torch
from torch import nn


def forward_flops(net: nn.Module, input_size: tuple[int, int, int] = (3, 100, 100)) -> dict[str, int]:
    """FLOPs (2 per multiply-add) of one image's forward pass through convolutions and dense layers.

    BatchNorm, activations and pooling are left out (a few percent of the total for these nets).
    ``training``: a training step per image, counted layer by layer: the forward pass, the weight
    gradient (as many FLOPs as the forward) and the input gradient (the same again) for every layer
    but the first, whose input (the image) needs no gradient. ``training_estimate`` is the usual 3x.
    """
    counts = {"conv": 0, "dense": 0}
    first: list[int] = []  # the first layer's forward FLOPs (no input gradient in training)

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        per_output = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        counts["conv"] += 2 * per_output * out[0].numel()
        first.append(2 * per_output * out[0].numel())

    def dense_hook(m: nn.Linear, _inp, out: torch.Tensor) -> None:
        counts["dense"] += 2 * m.in_features * m.out_features
        first.append(2 * m.in_features * m.out_features)

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(dense_hook))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_size))
    finally:
        net.train(was_training)
        for h in hooks:
            h.remove()
    total = counts["conv"] + counts["dense"]
    return {"forward": total, "conv": counts["conv"], "dense": counts["dense"], "training": 3 * total - first[0],
            "training_estimate": 3 * total}
