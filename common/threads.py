"""Process-wide defaults for PyTorch's OpenMP thread pool; apply them before ``import torch``.

PyTorch's Linux wheels use GNU OpenMP (libgomp). After every parallel region its idle threads
busy-wait ``GOMP_SPINCOUNT`` rounds (300,000 by default) before they sleep, and a sleeping thread
must be woken, on a virtual machine through the hypervisor, for the next region. Both extremes
cost. Too short a spin and every op of a training step waits for a thread to wake; too long a
spin and, on a CPU another busy process shares, the spinning threads take the core their partner
needs. 30,000 rounds keep a quiet machine within a few per cent of the fastest and bound the loss
when it is not (README, "process settings", has the figures). On a CPU you share with other busy
work (several training processes at once included), ``GOMP_SPINCOUNT=1000`` or ``--threads 1`` is
the better choice. A value the user set in the environment wins.
"""
from __future__ import annotations

import os
from typing import MutableMapping

OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "30000"}


def apply_openmp_defaults(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set :data:`OPENMP_DEFAULTS` in ``environ`` where unset; returns what it set.

    It only takes effect for a process that has not loaded libgomp yet (``import torch``).
    """
    applied = {k: v for k, v in OPENMP_DEFAULTS.items() if k not in environ}
    environ.update(applied)
    return applied
