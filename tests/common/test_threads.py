"""The OpenMP defaults: set where unset, never over the user's own value, and read by libgomp."""
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


def test_the_cli_sets_the_spin_before_anything_loads_torch_s_openmp():
    probe = ("import os, sys, contextlib, io, cli; loaded = 'torch' in sys.modules; "
             "contextlib.redirect_stdout(io.StringIO()).__enter__(); cli.main([]); "
             "sys.__stdout__.write(f\"{loaded} {os.environ.get('GOMP_SPINCOUNT')}\")")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False", OPENMP_DEFAULTS["GOMP_SPINCOUNT"]], out.stderr[-2000:]
