"""Write artifacts under a temporary name and rename them when complete."""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputFolderError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path: Path, is_dir: bool) -> None:
    """Temp files and folders start private (0600/0700); give them the umask's usual mode."""
    os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


def write_text_atomic(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        _usual_mode(Path(tmp), is_dir=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: object) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; renamed to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _usual_mode(Path(tmp), is_dir=False)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def foreign_entries(path: str | Path, own: Iterable[str] = ()) -> list[str]:
    """Names in folder ``path`` that match none of the glob patterns ``own`` (sorted; [] when absent)."""
    path = Path(path)
    if not path.is_dir():
        return []
    patterns = tuple(own)
    return sorted(e.name for e in path.iterdir() if not any(fnmatch.fnmatchcase(e.name, p) for p in patterns))


def check_out_dir(path: str | Path, own: Iterable[str] = (), overwrite: bool = False) -> Path:
    """Refuse an output ``path`` that is a file, or a folder holding entries that match none of ``own``.

    An output folder may be replaced only when everything in it is our own output (or with
    ``overwrite``): a user's ``notes.txt`` beside the results is never deleted silently.

    Raises:
        OutputFolderError: one line naming the folder and the first foreign entry.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"output folder {path} is a file")
    foreign = [] if overwrite else foreign_entries(path, own)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputFolderError(f"output folder {path} holds {foreign[0]!r}{more}, which orchard did not write; "
                                "choose a new or empty folder, or pass --overwrite to replace it")
    return path


@contextmanager
def atomic_dir(path: str | Path, own: Iterable[str] = (), overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds.

    Args:
        path: the final folder.
        own: glob patterns of the entries this tool writes; an existing folder holding anything
            else is refused before and after the block (see :func:`check_out_dir`). Whatever the
            new folder holds counts as own too.
        overwrite: replace an existing folder whatever it holds.
    """
    path = Path(path)
    check_out_dir(path, own, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        _usual_mode(tmp, is_dir=True)
        check_out_dir(path, (*own, *(e.name for e in tmp.iterdir())), overwrite)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
