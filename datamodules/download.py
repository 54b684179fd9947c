"""Fetch the public datasets where the network allows; fail with one clear line otherwise."""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from common.atomic import atomic_path

from .errors import DataError

FRUITS360_URL = "https://github.com/fruits-360/fruits-360-100x100/archive/refs/heads/main.zip"


def fetch(url: str, dest: Path, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (via a temporary file, renamed when complete)."""
    try:
        with atomic_path(dest) as tmp, open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"cannot download {url}: {reason} (no network? download it elsewhere and pass its folder as --root)") from None
    return dest


def download_fruits360(root: str | Path, url: str = FRUITS360_URL) -> Path:
    """Download and unpack Fruits-360 (100x100) so that ``root/Training`` and ``root/Test`` exist."""
    root = Path(root)
    if (root / "Training").is_dir() and (root / "Test").is_dir():
        return root
    archive = fetch(url, root.parent / f".{root.name}-download.zip")
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        except zipfile.BadZipFile:
            raise DataError(f"downloaded file {archive} from {url} is not a zip archive") from None
        training = next(staging.rglob("Training"), None)
        if training is None or not (training.parent / "Test").is_dir():
            raise DataError(f"archive from {url} has no Training/ and Test/ folders")
        os.replace(training.parent, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return root
