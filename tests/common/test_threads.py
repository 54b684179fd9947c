"""The OpenMP defaults: set where unset, never over the user's own value, before torch is loaded."""
from __future__ import annotations

import os
import subprocess
import sys

from common.threads import OPENMP_DEFAULTS, apply_openmp_defaults

from tests.conftest import REPO


def test_the_defaults_fill_an_empty_environment():
    env: dict[str, str] = {}
    assert apply_openmp_defaults(env) == OPENMP_DEFAULTS == env
    assert int(env["GOMP_SPINCOUNT"]) > 1000  # long enough to bridge the gaps between a step's ops


def test_a_value_the_user_set_wins():
    env = {"GOMP_SPINCOUNT": "1000", "PATH": "/bin"}
    assert apply_openmp_defaults(env) == {}
    assert env == {"GOMP_SPINCOUNT": "1000", "PATH": "/bin"}


# Record, when the CLI applies the defaults, whether torch (and its OpenMP) is loaded yet; then run a
# command that does load torch.
PROBE = """
import contextlib, io, os, sys
import common.threads as threads
seen, apply = [], threads.apply_openmp_defaults
threads.apply_openmp_defaults = lambda *a, **k: (seen.append("torch" in sys.modules), apply(*a, **k))[1]
import cli
with contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(["models"])
print(code, seen, "torch" in sys.modules, os.environ.get("GOMP_SPINCOUNT"))
"""


def test_the_cli_sets_the_spin_before_anything_loads_torch_s_openmp():
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    expected = ["0", "[False]", "True", OPENMP_DEFAULTS["GOMP_SPINCOUNT"]]  # exit 0; torch not yet loaded then
    assert out.stdout.split() == expected, out.stderr[-2000:]


def test_test_workers_share_the_cores():
    from tests.conftest import share_cores_among_workers

    env = {"PYTEST_XDIST_WORKER_COUNT": "2"}
    share_cores_among_workers(env)
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    mine = {"PYTEST_XDIST_WORKER_COUNT": "2", "OMP_NUM_THREADS": "7"}
    share_cores_among_workers(mine)
    assert mine["OMP_NUM_THREADS"] == "7"
    alone: dict[str, str] = {}
    share_cores_among_workers(alone)
    assert alone == {}
