"""Start a stage from an earlier stage's weights (not a resume: no optimizer, no epochs)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from .architectures.base import OrchardNet
from .checkpoint_io import CheckpointError, checkpoint_state_dict, read_checkpoint

__all__ = ["CheckpointError", "describe_mismatch", "load_weights", "read_state_dict"]


ResetHead = Literal["classifier", "all"]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The network weights in a Lightning checkpoint (``net.*`` keys) or a plain state dict (read as data)."""
    return checkpoint_state_dict(read_checkpoint(path))


def _mismatch(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], keys: set[str]) -> str:
    """``"missing: ...; unexpected: ...; wrong shape: ..."`` for ``keys`` of ``own`` against ``state`` ('' if they fit)."""
    prefixes = {k.split(".")[0] for k in keys}
    missing = sorted(keys - state.keys())
    unexpected = sorted(k for k in state.keys() - own.keys() if k.split(".")[0] in prefixes)
    wrong_shape = sorted(k for k in keys & state.keys() if state[k].shape != own[k].shape)
    parts = []
    for label, found in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if found:
            parts.append(f"{label}: {', '.join(found[:4])}{' ...' if len(found) > 4 else ''}")
    return "; ".join(parts)


def describe_mismatch(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> str:
    """Why weights ``state`` do not fit a network's ``own`` state dict, with class counts when those differ ('' if they fit)."""
    problem = _mismatch(state, own, set(own))
    if not problem:
        return ""
    theirs, ours = _classes(state), _classes(own)
    if theirs is not None and ours is not None and theirs != ours:
        return f"it was trained for {theirs} classes, the data has {ours}"
    return problem


def _classes(state: dict[str, torch.Tensor]) -> int | None:
    """Classes of the last 2-D ``head.*.weight`` (the final dense layer)."""
    weights = [v for k, v in state.items() if k.startswith("head.") and k.endswith("weight") and v.ndim == 2]
    return int(weights[-1].shape[0]) if weights else None


def load_weights(net: OrchardNet, path: str | Path, reset_head: ResetHead = "classifier") -> list[str]:
    """Load ``path`` into ``net``; when the class count differs, part of the head starts afresh.

    Args:
        net: the network to fill.
        path: a Lightning checkpoint (``net.*`` keys) or a plain state dict.
        reset_head: what starts afresh when the checkpoint's class count differs:
            ``"classifier"`` only the final classification layer (the hidden dense layers
            keep the checkpoint's weights, as torchvision and timm fine-tune); ``"all"``
            every head layer.

    Returns the keys that were not loaded (``[]`` when the class count matches).
    Raises :class:`CheckpointError` naming the mismatching keys when the checkpoint is
    of another architecture, or when its head's hidden layers do not fit (``"classifier"``:
    built with another ``dropout``, say).
    """
    if reset_head not in ("classifier", "all"):
        raise CheckpointError(f"reset_head must be 'classifier' or 'all', got {reset_head!r}")
    state = read_state_dict(path)
    own = net.state_dict()
    head_keys = {k for k in own if k.startswith("head.")}
    problem = _mismatch(state, own, set(own) - head_keys)
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit {type(net).__name__} ({problem})")
    if not _mismatch(state, own, head_keys):
        net.load_state_dict({k: state[k] for k in own})
        return []
    fresh = head_keys if reset_head == "all" else {k for k in head_keys if k.startswith(net.classifier_name + ".")}
    problem = _mismatch(state, own, head_keys - fresh)
    if problem:
        raise CheckpointError(f"checkpoint {path}: the head's hidden layers do not fit {type(net).__name__} ({problem}); "
                              "use reset_head='all' to start the whole head afresh")
    net.load_state_dict({k: state[k] for k in own if k not in fresh}, strict=False)
    return sorted(fresh)
