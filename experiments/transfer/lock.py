"""One process owns a study folder: a lock file holding its pid and host.

``<out>/.orchard-study.lock`` is created when a study starts and removed when it ends. The
kernel's ``flock`` on the open file says whether its owner still runs (the lock dies with the
process, however it ends), and the file's pid/host name the owner in the refusal. A lock file
left by a dead process on this host is taken over; one naming another host whose lock cannot be
seen from here is refused, with the file to delete once that process is known to be gone.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Optional

from common.errors import OrchardError

LOCK_NAME = ".orchard-study.lock"


class StudyLockedError(OrchardError):
    """Another process owns the study folder."""


def _read_owner(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        owner = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _describe(owner: dict) -> str:
    since = owner.get("started")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if isinstance(since, (int, float)) else ""
    return f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}{when}"


class StudyLock:
    """Exclusive ownership of a study folder for the life of a ``with`` block.

    Args:
        folder: the study's ``--out``; created if missing.

    Raises (on entry):
        StudyLockedError: another live process holds the folder (or a process on another host
            left its lock file).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: Optional[int] = None
        self.took_over: Optional[dict] = None  # the dead owner whose lock was taken over, if any
        self._made_folder = False  # acquire created the study folder (released empty, it goes again)

    def acquire(self) -> "StudyLock":
        """Take the lock, or raise :class:`StudyLockedError` naming its owner."""
        self._made_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder's last owner removed it, empty, as it left: make it again
                self.folder.mkdir(parents=True, exist_ok=True)
                self._made_folder = True
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise StudyLockedError(f"study folder {self.folder} is in use by {_describe(owner)} "
                                       f"({self.path}); wait for it or use another --out") from None
            # The file may have been removed (by its owner finishing) between open and flock: retry on the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            owner = _read_owner(fd)
            if owner.get("host") not in (None, socket.gethostname()):
                os.close(fd)  # its flock need not be visible here (a shared network folder)
                raise StudyLockedError(f"study folder {self.folder} holds a lock of {_describe(owner)}, which "
                                       f"cannot be checked from here; once that process is gone, delete {self.path}")
            if owner:  # a lock file nobody holds: its process died without removing it
                self.took_over = owner
            record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(record) + "\n").encode())
            os.fsync(fd)
            self._fd = fd
            return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (removing first: a waiting process then retries on a new file)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder: the flock still goes with the file descriptor
        os.close(self._fd)
        self._fd = None
        if self._made_folder:  # a study refused before it wrote anything leaves no empty folder behind
            try:
                self.folder.rmdir()
            except OSError:
                pass  # not empty (the study wrote into it), or another process's lock is there now

    def __enter__(self) -> "StudyLock":
        return self.acquire()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.release()

