"""Process-wide defaults for PyTorch's OpenMP thread pool; apply them before ``import torch``.

PyTorch's Linux wheels use GNU OpenMP (libgomp), whose idle threads busy-wait ~300,000 spins
after every parallel region. On a CPU shared with other processes that spinning takes the
core the partner thread (or another program) needs, and every op then waits for a
descheduled thread: training alexnet with 2 threads on a shared 2-core VM ran 2-5x slower
than with a short spin (``GOMP_SPINCOUNT`` 500-2000) or ``OMP_WAIT_POLICY=PASSIVE``, and at
least as fast in the quiet moments measured. A value the user set in the environment wins.
"""
from __future__ import annotations

import os
from typing import MutableMapping

OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "1000"}


def apply_openmp_defaults(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set :data:`OPENMP_DEFAULTS` in ``environ`` where unset; returns what it set.

    It only takes effect for a process that has not loaded libgomp yet (``import torch``).
    """
    applied = {k: v for k, v in OPENMP_DEFAULTS.items() if k not in environ}
    environ.update(applied)
    return applied
