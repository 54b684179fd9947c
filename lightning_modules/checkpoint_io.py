"""Reading checkpoints as data, never as code: the one place orchard opens a ``.ckpt``.

A checkpoint is a pickle; unpickled without restrictions it can run any code (a crafted
``__reduce__`` that creates a file, starts a process ...). Every checkpoint orchard reads goes
through :func:`read_checkpoint`, which loads with ``torch.load(weights_only=True)``: tensors,
containers and plain values only, plus the globals in :data:`SAFE_GLOBALS`. orchard's own
Lightning checkpoints need none: their hyper-parameters are plain dicts, the RNG states are
stored as tensors, strings and ints (``RNGStateCheckpoint``), and the optimizer states are
tensors and numbers. Every checkpoint found under ``runs/`` and the test suite's folders loads
this way.
"""
from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from common.errors import OrchardError

# Globals a checkpoint may reference beyond torch's weights-only defaults (none needed so far).
SAFE_GLOBALS: tuple[Any, ...] = ()
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# how torch's weights-only unpickler says it met code (a global or a call), not mere damage
REFUSAL_MARKS = ("Unsupported global", "unsupported GLOBAL", "unrecognized function", "Can only build", "Can only create")


class CheckpointError(OrchardError):
    """A missing, unreadable, refused or incompatible checkpoint."""


def _refusal(e: BaseException) -> str | None:
    """The global a weights-only load refused (``pathlib.Path.touch``), or ``None`` for another failure."""
    text = str(e)
    if "Weights only load failed" not in text or not any(m in text for m in REFUSAL_MARKS):
        return None  # a damaged or foreign file, not a forbidden object
    found = _GLOBAL.search(text)
    return found.group(1) if found else "a function call"


def load_weights_only(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with :data:`SAFE_GLOBALS` allowed.

    Raises:
        CheckpointError: one line, for a missing file, a folder, a truncated or non-PyTorch
            file, or a pickle that references code (refused, never run).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            IndexError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        refused = _refusal(e)
        if refused:
            raise CheckpointError(f"checkpoint {path} references {refused}, which a checkpoint may not hold "
                                  "(checkpoints are loaded as data, never code); refused") from None
        if isinstance(e, OSError) and not isinstance(e, zipfile.BadZipFile):
            raise CheckpointError(f"checkpoint {path} cannot be read ({e.strerror or type(e).__name__})") from None
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch checkpoint "
                              f"(truncated, or another kind of file: {type(e).__name__})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's contents: a Lightning checkpoint (``state_dict``, ``hyper_parameters`` ...) or a plain state dict.

    Raises:
        CheckpointError: see :func:`load_weights_only`; also when the file holds no dict of weights.
    """
    obj = load_weights_only(path)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"checkpoint {path} holds no state_dict")
    return obj


def checkpoint_state_dict(obj: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network weights of a checkpoint read by :func:`read_checkpoint` (``net.`` prefix removed)."""
    state = obj.get("state_dict", obj)
    if any(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    return state


def checkpoint_hparams(obj: dict[str, Any]) -> dict[str, Any]:
    """The model hyper-parameters recorded in a Lightning checkpoint (``{}`` for a plain state dict)."""
    hp = obj.get("hyper_parameters")
    return dict(hp) if isinstance(hp, dict) else {}
