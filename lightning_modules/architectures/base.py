"""The interface every orchard architecture shares."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class OrchardNet(nn.Module):
    """Base class: ``features`` (named, freezable blocks) followed by ``head``.

    Subclasses fill ``self.features`` with an ``OrderedDict`` of named blocks
    (``conv1``..``conv4`` for the AlexNets, ``stem``/``block1``.. for the MobileNets)
    and implement :meth:`build_head`. ``reset_head`` rebuilds the classifier for a
    new class count, which is how a transfer stage starts.
    """

    input_size: tuple[int, int, int] = (3, 100, 100)
    # Study 1's freeze points per transfer stage, on this network's own named blocks (a block count,
    # negative = all but the last, or "all"; see lightning_modules.freezing). The paper froze
    # conv1-conv3 of AlexNet's four blocks in stage 2 (every block but the last) and conv1-conv4 in
    # stage 3 (every block): the same rule for every network, so a subclass overrides it only with reason.
    transfer_freeze: dict[str, int | str] = {"stage2": -1, "stage3": "all"}
    features: nn.Sequential
    head: nn.Module

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def build_head(self, num_classes: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes``."""
        from .layers import init_weights

        self.num_classes = num_classes
        self.head = self.build_head(num_classes)
        init_weights(self.head)

    @property
    def classifier_name(self) -> str:
        """Qualified name of the final classification layer (``head.1.4`` on the AlexNets).

        It is the one layer whose shape depends on the class count: what a fine-tuning
        stage replaces when it keeps the rest of the head (as torchvision and timm do).
        """
        linears = [f"head.{name}" for name, m in self.head.named_modules() if isinstance(m, nn.Linear)]
        return linears[-1]

    @property
    def block_names(self) -> list[str]:
        """Names of the feature blocks, input first (what freezing refers to)."""
        return [name for name, _ in self.features.named_children()]

    def block(self, name: str) -> nn.Module:
        return self.features.get_submodule(name)

    def forward_blocks(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run feature blocks ``start`` .. ``stop - 1`` (to the last block when ``stop`` is None) on ``x``."""
        for block in list(self.features.children())[start:stop]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def named(blocks: list[tuple[str, nn.Module]]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(blocks))
