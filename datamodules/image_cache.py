"""Decode image files once into a uint8 tensor, cached on disk keyed by the file list."""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from common.atomic import atomic_path

from .errors import DataError

log = logging.getLogger(__name__)
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("ORCHARD_CACHE", ".cache/orchard"))


def _decode(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """Decode one file to ``size x size x 3`` uint8; returns (pixels, was_converted)."""
    try:
        with Image.open(path) as im:
            im.load()
            converted = im.mode != "RGB" or im.size != (size, size)
            if im.mode != "RGB":
                im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8), converted
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode image {path}: {type(e).__name__}: {e}") from None


def decode_images(paths: Sequence[Path], size: int = 100, workers: int | None = None) -> tuple[torch.Tensor, int]:
    """Decode ``paths`` into an ``N x 3 x size x size`` uint8 tensor.

    Grayscale, RGBA, palette or odd-sized images are converted (RGB, bilinear resize);
    the number converted is returned so callers can warn. A file that cannot be decoded
    raises :class:`DataError` naming it.
    """
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    converted = 0
    workers = workers or min(8, os.cpu_count() or 1)

    def work(i: int) -> bool:
        out[i], conv = _decode(Path(paths[i]), size)
        return conv

    with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
        for conv in pool.map(work, range(len(paths))):
            converted += conv
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), converted


def cache_key(paths: Sequence[Path], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{size}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"\0{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def atomic_torch_save(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary name beside ``path``, renamed when complete."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_images_cached(paths: Sequence[Path], size: int = 100, cache_dir: Path | None = None, name: str = "images") -> torch.Tensor:
    """Decoded images for ``paths``, from the on-disk cache when the file list is unchanged."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(paths, size)
    file = cache_dir / f"{name}-{key}.pt"
    if file.is_file():
        try:
            images = torch.load(file, weights_only=True)
            if images.shape == (len(paths), 3, size, size):
                return images
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
        log.warning("ignoring unreadable cache %s", file)
    images, converted = decode_images(paths, size)
    if converted:
        log.warning("%d of %d images were not %dx%d RGB and were converted", converted, len(paths), size, size)
    try:
        atomic_torch_save(images, file)
    except OSError as e:  # read-only, full or not a folder: the cache is optional
        _warn_once(cache_dir, f"decode cache {cache_dir} cannot be written ({e.strerror or type(e).__name__}); "
                              "continuing without it (set ORCHARD_CACHE to a writable folder to keep decoded images)")
    return images


_warned: set[str] = set()


def _warn_once(cache_dir: Path, message: str) -> None:
    """Log ``message`` the first time a cache folder fails in this process."""
    if str(cache_dir) not in _warned:
        _warned.add(str(cache_dir))
        log.warning(message)
