"""Fetch the public datasets where the network allows; fail with one clear line otherwise.

Archives are checked before they are unpacked: CIFAR's against the MD5 its authors publish,
Fruits-360's against a SHA-256 the user passes (``--sha256``; the archive is GitHub's snapshot
of the repository's main branch, which changes with every commit, so no fixed checksum can be
recorded here). The SHA-256 of what was downloaded is written to ``<root>/DOWNLOAD.json`` and
printed, to check later downloads against. Tar members are extracted with ``filter="data"``
(no absolute paths, no ``..``, no links out of the folder, no device files).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from common.atomic import atomic_path, write_json_atomic

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


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_digest(path: Path, expected: Optional[str], url: str, algorithm: str = "sha256") -> str:
    """The file's digest; :class:`DataError` when ``expected`` is given and differs."""
    actual = file_digest(path, algorithm)
    if expected and actual != expected.strip().lower():
        raise DataError(f"the archive downloaded from {url} has {algorithm} {actual}, not {expected} as expected "
                        "(changed or damaged); nothing was unpacked")
    return actual


def extract_tar(archive: Path, dest: Path, url: str) -> None:
    """Unpack a tar archive into ``dest`` with ``filter="data"``: a member that would land outside ``dest``,
    a link out of it or a device file stops with one :class:`DataError` line."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"cannot unpack the archive from {url}: {type(e).__name__}: {e}") from None


def download_fruits360(root: str | Path, url: str = FRUITS360_URL, sha256: Optional[str] = None) -> Path:
    """Download and unpack Fruits-360 (100x100) so that ``root/Training`` and ``root/Test`` exist.

    Args:
        root: the dataset folder to create.
        url: the zip archive.
        sha256: the archive's expected SHA-256 (checked before unpacking when given). The one
            computed is written to ``root/DOWNLOAD.json`` either way.
    """
    root = Path(root)
    if (root / "Training").is_dir() and (root / "Test").is_dir():
        return root
    archive = fetch(url, root.parent / f".{root.name}-download.zip")
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        digest = verify_digest(archive, sha256, url)
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        except zipfile.BadZipFile:
            raise DataError(f"downloaded file {archive} from {url} is not a zip archive") from None
        training = next(staging.rglob("Training"), None)
        if training is None or not (training.parent / "Test").is_dir():
            raise DataError(f"archive from {url} has no Training/ and Test/ folders")
        write_json_atomic(training.parent / "DOWNLOAD.json", {"url": url, "sha256": digest,
                                                             "bytes": archive.stat().st_size})
        os.replace(training.parent, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return root
