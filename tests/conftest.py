"""Shared fixtures: a tiny synthetic Fruits-360 folder, the real subsets when present, an isolated cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FRUITS_MINI = SHARED_DATA / "fruits360-mini"
CIFAR10_MINI = SHARED_DATA / "cifar10-mini"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from common.allocator import tune_malloc  # noqa: E402
from common.threads import apply_openmp_defaults  # noqa: E402


def share_cores_among_workers(environ=os.environ) -> None:
    """Under pytest-xdist, give each worker's torch ``cores // workers`` threads (``OMP_NUM_THREADS``).

    Workers that each took every core would oversubscribe the CPU, and OpenMP threads that spin
    between ops (``common/threads.py``) would then hold the cores the other workers need. The CLI
    processes the tests start inherit it. A thread count set in the environment wins.
    """
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in environ:
        environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


share_cores_among_workers()  # before any test module imports torch
apply_openmp_defaults()  # before any test module imports torch, as cli.py does
tune_malloc()  # as cli.py does


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own decode cache, never the developer's."""
    monkeypatch.setenv("ORCHARD_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def tiny_fruits(tmp_path_factory) -> Path:
    """A small synthetic Fruits-360 folder (13 classes, 24 train / 8 test images each)."""
    from datamodules.synthetic import make_synthetic_fruits

    return make_synthetic_fruits(tmp_path_factory.mktemp("fruits") / "fruits360", train_per_class=24, test_per_class=8)


@pytest.fixture(scope="session")
def fruits_mini() -> Path:
    if not FRUITS_MINI.is_dir():
        pytest.skip("../shared/data/fruits360-mini is absent")
    return FRUITS_MINI


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run ``python cli.py ARGS`` in a subprocess; returns the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "cli.py"), *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
