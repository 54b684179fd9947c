"""common.cuda_check: no failed NVML load in every optimizer step of a CPU-only run."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from common.cuda_check import NVML_CHECK_ENV, NVML_LIBRARY, drop_nvml_check_without_nvml

from tests.conftest import REPO


def _missing(name: str) -> object:
    raise OSError(f"{name}: cannot open shared object file")


def test_removed_where_nvml_cannot_be_loaded():
    env = {NVML_CHECK_ENV: "1", "OTHER": "x"}
    assert drop_nvml_check_without_nvml(environ=env, load=_missing)
    assert env == {"OTHER": "x"}


def test_kept_where_nvml_loads():
    env = {NVML_CHECK_ENV: "1"}
    loaded = []
    assert not drop_nvml_check_without_nvml(environ=env, load=loaded.append)
    assert env == {NVML_CHECK_ENV: "1"} and loaded == [NVML_LIBRARY]


@pytest.mark.parametrize("env", [{}, {NVML_CHECK_ENV: "0"}])
def test_a_setting_lightning_did_not_make_is_left_alone(env):
    before = dict(env)
    assert not drop_nvml_check_without_nvml(environ=env, load=_missing)
    assert env == before


def test_kept_on_a_rocm_build():
    env = {NVML_CHECK_ENV: "1"}
    assert not drop_nvml_check_without_nvml(rocm=True, environ=env, load=_missing)
    assert env == {NVML_CHECK_ENV: "1"}


# After orchard's CLI is built, count the NVML loads one Adam step makes.
PROBE = """
import ctypes, sys
import pytorch_lightning, torch
from lightning_modules.lightning_cli import make_cli
assert __import__("os").environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"  # Lightning's import set it
make_cli(["--data", "datamodules.Fruits360DataModule", "--data.root", sys.argv[1], "--trainer.logger", "false",
          "--trainer.default_root_dir", sys.argv[2]], run=False)
loads = []
real = ctypes.CDLL
ctypes.CDLL = lambda name, *a, **k: (loads.append(name), real(name, *a, **k))[1]
p = torch.nn.Parameter(torch.ones(3))
opt = torch.optim.Adam([p])
p.sum().backward()
opt.step()
after_cli = len(loads)
__import__("os").environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # Lightning's setting back: the control
opt.step()
print(after_cli, len(loads) - after_cli)
"""


@pytest.mark.slow
def test_an_optimizer_step_after_building_the_cli_loads_no_nvml(tiny_fruits, tmp_path):
    try:
        ctypes.CDLL(NVML_LIBRARY)
        pytest.skip("NVML loads on this machine: Lightning's check stays")
    except OSError:
        pass
    env = {k: v for k, v in os.environ.items() if k != NVML_CHECK_ENV}
    out = subprocess.run([sys.executable, "-c", PROBE, str(tiny_fruits), str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    after_cli, with_lightning_setting = map(int, out.stdout.split()[-2:])
    if with_lightning_setting == 0:
        pytest.skip("this torch build does not ask NVML in an optimizer step (CPU-only build or no visible devices)")
    assert after_cli == 0
