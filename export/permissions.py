"""Give a folder built with ``common.atomic`` the usual permissions (temp dirs/files start private)."""
from __future__ import annotations

import os
from pathlib import Path


def make_readable(folder: str | Path) -> None:
    """chmod ``folder`` and everything in it to the umask's defaults (0755 / 0644 with umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    folder = Path(folder)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
