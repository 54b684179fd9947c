"""Where the network to export comes from: a Lightning checkpoint, or an architecture with fresh weights."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lightning_modules.architectures import OrchardNet, build_model, check_name
from lightning_modules.checkpoint_io import read_checkpoint
from lightning_modules.init_from import CheckpointError, load_weights


@dataclass
class ModelSource:
    """A network ready for export and what is known about it.

    Args:
        net: the network, eval mode, float32.
        arch: architecture name in the registry.
        num_classes: output classes.
        checkpoint: the checkpoint it was read from (``None``: fresh weights).
        datamodule: the datamodule hyper-parameters recorded in the checkpoint, if any.
    """

    net: OrchardNet
    arch: str
    num_classes: int
    checkpoint: str | None = None
    datamodule: dict[str, Any] | None = field(default=None)

    def describe(self) -> dict:
        return {"arch": self.arch, "num_classes": self.num_classes, "checkpoint": self.checkpoint,
                "fresh_weights": self.checkpoint is None}


def fresh_model(arch: str, num_classes: int = 3, seed: int = 0) -> ModelSource:
    """Architecture ``arch`` with seeded random weights (enough for latency work)."""
    check_name(arch)
    torch.manual_seed(seed)
    return ModelSource(build_model(arch, num_classes=num_classes).eval(), arch, num_classes)


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, loaded as data (``weights_only``; see ``lightning_modules.checkpoint_io``)."""
    return read_checkpoint(path)


def _head_classes(state: dict) -> int | None:
    """Classes of the last dense layer in a plain state dict (``head.*.weight`` with 2 dims)."""
    weights = [v for k, v in state.items() if k.removeprefix("net.").startswith("head.") and k.endswith("weight")
               and getattr(v, "ndim", 0) == 2]
    return int(weights[-1].shape[0]) if weights else None


def load_checkpoint_model(path: str | Path, arch: str | None = None, num_classes: int | None = None) -> ModelSource:
    """The network in a Lightning checkpoint (``python cli.py fit``) or a plain state dict.

    The architecture and class count come from the checkpoint's ``hyper_parameters``; ``arch``
    (when given) must agree with it. A plain state dict needs ``arch``.

    Raises:
        CheckpointError: missing or unreadable file, another architecture than ``arch``,
            or weights that do not fit the architecture.
    """
    path = Path(path)
    obj = _read_checkpoint(path)
    hp = obj.get("hyper_parameters") or {}
    recorded = hp.get("arch")
    if arch is not None:
        check_name(arch)
    if recorded is not None and arch is not None and recorded != arch:
        raise CheckpointError(f"checkpoint {path} holds architecture {recorded!r}, not {arch!r} as asked")
    arch = recorded or arch
    if arch is None:
        raise CheckpointError(f"checkpoint {path} records no architecture; pass --arch")
    check_name(arch)
    state = obj.get("state_dict", obj)
    classes = hp.get("num_classes") or num_classes or _head_classes(state) or 3
    net = build_model(arch, num_classes=int(classes), **(hp.get("arch_kwargs") or {}))
    dropped = load_weights(net, path)
    if dropped:
        raise CheckpointError(f"checkpoint {path}: classifier head does not fit {arch} with {classes} classes")
    datamodule = obj.get("datamodule_hyper_parameters")
    return ModelSource(net.float().eval(), arch, int(classes), str(path), dict(datamodule) if datamodule else None)
