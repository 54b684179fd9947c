"""Start a stage from an earlier stage's weights (not a resume: no optimizer, no epochs)."""
from __future__ import annotations

from pathlib import Path

import torch

from .architectures.base import OrchardNet


class CheckpointError(RuntimeError):
    """A missing, unreadable or incompatible checkpoint."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The network weights in a Lightning checkpoint (``net.*`` keys) or a plain state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch checkpoint ({type(e).__name__})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"checkpoint {path} holds no state_dict")
    if any(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    return state


def checkpoint_arch(path: str | Path) -> str | None:
    """The architecture name recorded in a Lightning checkpoint's hyper-parameters, if any."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        return None
    hp = obj.get("hyper_parameters", {}) if isinstance(obj, dict) else {}
    return hp.get("arch")


def load_weights(net: OrchardNet, path: str | Path) -> list[str]:
    """Load ``path`` into ``net``; the head is dropped when its shape differs.

    Returns the keys that were not loaded (the head, when the class count changed).
    Raises :class:`CheckpointError` naming the mismatching keys when the checkpoint is
    of another architecture.
    """
    state = read_state_dict(path)
    own = net.state_dict()
    feature_keys = {k for k in own if not k.startswith("head.")}
    missing = sorted(feature_keys - state.keys())
    unexpected = sorted(k for k in state.keys() - own.keys() if not k.startswith("head."))
    wrong_shape = sorted(k for k in feature_keys & state.keys() if state[k].shape != own[k].shape)
    if missing or unexpected or wrong_shape:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}")
        raise CheckpointError(f"checkpoint {path} does not fit {type(net).__name__} ({'; '.join(parts)})")
    head_fits = all(k in state and state[k].shape == v.shape for k, v in own.items() if k.startswith("head."))
    load = {k: v for k, v in state.items() if k in own and (head_fits or not k.startswith("head."))}
    net.load_state_dict(load, strict=False)
    return [] if head_fits else sorted(k for k in own if k.startswith("head."))
