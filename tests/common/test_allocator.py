"""common.allocator: freed tensor memory is reused instead of being page-faulted in again."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD, tune_malloc

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")

# Allocate and free a 20 MB tensor (an activation of a big batch) and report where glibc put it:
# bytes in mmapped blocks while it lives, and free bytes the heap keeps for reuse once it is gone.
PROBE = """
import ctypes, sys
from common.allocator import tune_malloc
applied = tune_malloc() if sys.argv[1] == "tune" else {}
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
import torch
x = torch.ones(5 * 2**20)
mapped = libc.mallinfo2().hblkhd
del x
print(bool(applied), mapped, libc.mallinfo2().fordblks)
"""
MB = 2**20


def _probes(*modes: str) -> list[tuple[bool, int, int]]:
    """One fresh interpreter per mode, run side by side (each spends seconds importing torch)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    procs = [subprocess.Popen([sys.executable, "-c", PROBE, mode], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for mode in modes]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        out = stdout.split()
        results.append((out[0] == "True", int(out[1]), int(out[2])))
    return results


def test_freed_tensor_memory_stays_for_reuse():
    (tuned, tuned_mapped, tuned_kept), (untouched, default_mapped, default_kept) = _probes("tune", "glibc-defaults")
    assert tuned and not untouched
    # glibc's defaults: the 20 MB block is its own mmap, unmapped again on free (and page-faulted
    # in afresh next time); tuned: it comes from the heap and stays there when freed.
    assert default_mapped >= 20 * MB and default_kept < 20 * MB
    assert tuned_mapped < 20 * MB and tuned_kept >= 20 * MB


def test_user_settings_win():
    assert tune_malloc({"MALLOC_TRIM_THRESHOLD_": "1"}) == {}
    assert tune_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}) == {}


def test_applies_both_thresholds():
    assert tune_malloc({}) == {"mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
