"""Writing checkpoints: the same files and atomic replace as Lightning's writer, with less waiting between epochs."""
from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.types import _PATH

log = logging.getLogger(__name__)


def _local_path(path: _PATH) -> Optional[Path]:
    """``path`` as a local file path (``file://`` stripped), or ``None`` for another filesystem."""
    fs, stripped = url_to_fs(str(path))
    return Path(stripped) if isinstance(fs, LocalFileSystem) else None


class BackgroundReplaceCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` whose final rename can run on a worker thread.

    Lightning pickles a checkpoint into memory, copies that into a temporary file and renames it
    over the old file. This writer pickles straight into ``.<name>.part`` beside the target
    (one copy of the ~10 MB fewer) and hands the rename to a thread: on ext4, a rename that replaces
    a file waits ~10 ms, with ~1 ms of CPU, until the new file's data starts going to disk, and the
    next epoch need not wait for that (README: a shorter pause between epochs also makes the next
    epoch faster). Only saves made inside :meth:`deferred` (the checkpoint callback's, during a
    fit) rename in the background; any other save, e.g. a direct ``trainer.save_checkpoint()``,
    has its file in place when it returns, as with Lightning's writer.

    What stays as in Lightning: a checkpoint file is always complete (the rename is atomic); every
    save, load and remove first waits for the rename before it, so they happen in order; the end
    of a fit (``teardown``) waits for the last one, so a finished fit's files are all in place. A
    killed process leaves the previous complete file (and a ``.part`` that the next save replaces).
    A rename that fails is raised by the next save, load, remove or ``teardown``. Paths that are
    not local files (``s3://``, ``memory://`` ...) go through Lightning's writer.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: Optional[threading.Thread] = None
        self._pending_target: Optional[Path] = None
        self._error: Optional[BaseException] = None
        self._deferring = False

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Saves inside this block may leave their rename to the worker thread."""
        before, self._deferring = self._deferring, True
        try:
            yield
        finally:
            self._deferring = before

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any] = None) -> None:
        self.wait()
        target = _local_path(path)
        if storage_options is not None or target is None:
            super().save_checkpoint(checkpoint, path, storage_options)  # Lightning's writer (and its TypeError)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")  # a killed writer's is overwritten by the next save
        try:
            torch.save(checkpoint, part)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if not self._deferring:
            self._replace(part, target)
            self.wait()
            return
        # not a daemon: an interpreter that exits without teardown still finishes the rename
        self._pending = threading.Thread(target=self._replace, args=(part, target), name="checkpoint-replace")
        self._pending_target = target
        self._pending.start()

    def renaming(self, path: _PATH) -> bool:
        """Whether ``path`` is the target of a rename still under way (it will exist; it may not yet)."""
        pending = self._pending
        return pending is not None and pending.is_alive() and _local_path(path) == self._pending_target

    def _replace(self, part: Path, target: Path) -> None:
        try:
            os.replace(part, target)
        except BaseException as e:  # raised in the training thread by the next wait()
            part.unlink(missing_ok=True)
            self._error = e

    def wait(self) -> None:
        """Block until the last rename is done; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def load_checkpoint(self, path: _PATH, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.wait()
        return super().load_checkpoint(path, *args, **kwargs)

    def remove_checkpoint(self, path: _PATH) -> None:
        self.wait()
        super().remove_checkpoint(path)

    def teardown(self) -> None:
        """Wait for the last rename. While Lightning handles another exception (a failed or
        interrupted fit), a failed rename is logged, not raised: the original error stays the one
        reported, and Lightning's own teardown goes on."""
        handling = sys.exc_info()[1]
        try:
            self.wait()
        except Exception as e:
            if handling is None:
                raise
            log.error("checkpoint rename failed while the fit was ending on another error: %s", e)
