"""CIFAR-100 (fine labels) and CIFAR-10 from the official python pickle layouts.

``<root>/cifar-100-python/{train,test,meta}`` or ``<root>/cifar-10-batches-py/{data_batch_1..5,
test_batch,batches.meta}`` (``root`` may also be that folder itself). The pickles are read
directly into uint8 tensors, with no checksum check: re-encoded copies (such as
``../shared/data/cifar10-mini``) load as well as the official files. Images stay 32x32 in
memory; the batch transform upscales each whole batch to the model's 100x100 input.
"""
from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch

from common.atomic import write_json_atomic

from .batches import BatchAugment
from .errors import DataError
from .in_memory import InMemoryImageDataModule

log = logging.getLogger(__name__)

SYNTHETIC_MARKER = "SYNTHETIC"
IMAGE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class CIFARSpec:
    """Where one CIFAR variant keeps its files (as in the official archive and torchvision)."""

    folder: str
    url: str
    md5: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str


CIFAR_SPECS: dict[str, CIFARSpec] = {
    "cifar100": CIFARSpec(
        folder="cifar-100-python",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
    ),
    "cifar10": CIFARSpec(
        folder="cifar-10-batches-py",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
    ),
}


def cifar_spec(name: str) -> CIFARSpec:
    """The layout of ``cifar100`` or ``cifar10``; a one-line :class:`DataError` otherwise."""
    if name not in CIFAR_SPECS:
        raise DataError(f"unknown CIFAR dataset {name!r}; choose one of: {', '.join(CIFAR_SPECS)}")
    return CIFAR_SPECS[name]


# -- reading the pickles ---------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (the CIFAR files hold nothing else)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with ``str`` keys (Python 2 files decode as latin-1)."""
    if not path.is_file():
        raise DataError(f"missing CIFAR file {path}")
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path} is not a CIFAR python pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR python pickle (holds a {type(obj).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(entry: dict[str, Any], key: str, path: Path) -> Any:
    if key not in entry:
        raise DataError(f"{path} has no {key!r} entry (keys: {', '.join(sorted(entry))})")
    return entry[key]


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N x 3 x 32 x 32 uint8 images, N int64 labels)`` from one data pickle."""
    entry = read_pickle(path)
    data = np.asarray(_field(entry, "data", path))
    labels = np.asarray(_field(entry, label_key, path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise DataError(f"{path}: 'data' must be uint8 N x 3072, got {data.dtype} {tuple(data.shape)}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def read_split(folder: Path, files: tuple[str, ...], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate the pickles of one split into uint8 images and int64 labels."""
    parts = [read_batch(folder / name, label_key) for name in files]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images).contiguous(), torch.from_numpy(labels)


def read_class_names(folder: Path, spec: CIFARSpec) -> list[str]:
    path = folder / spec.meta_file
    names = _field(read_pickle(path), spec.names_key, path)
    if not names:
        raise DataError(f"{path}: {spec.names_key!r} is empty")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def find_cifar_folder(root: str | Path, name: str) -> Path:
    """``root/<official folder>`` or ``root`` itself, whichever holds the meta file."""
    spec = cifar_spec(name)
    root = Path(root)
    for folder in (root / spec.folder, root):
        if (folder / spec.meta_file).is_file():
            return folder
    hint = f"python cli.py data download {name} --root {root}"
    if name == "cifar100":
        hint += f" (or `python cli.py data synth cifar100 --root {root}` for a synthetic sample)"
    raise DataError(f"no {name} data in {root}: expected {root / spec.folder / spec.meta_file} (run `{hint}`)")


# -- downloading -----------------------------------------------------------------------
def download_cifar(name: str, root: str | Path, url: Optional[str] = None, timeout: float = 60.0,
                   sha256: Optional[str] = None) -> Path:
    """Download, check and unpack ``cifar100``/``cifar10`` into ``root``.

    The archive is fetched into a temporary folder inside ``root``, checked against the
    official MD5 (and ``sha256`` when given), unpacked with ``tarfile``'s ``filter="data"``
    and renamed into place only when complete. Already present data is returned as is.
    Without a network this fails with one :class:`DataError` line. Returns the dataset folder.
    """
    from .download import extract_tar, fetch, verify_digest

    spec = cifar_spec(name)
    root = Path(root)
    target = root / spec.folder
    if (target / spec.meta_file).is_file():
        return target
    url = url or spec.url
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.folder}.", dir=root))
    try:
        try:
            archive = fetch(url, staging / Path(spec.url).name, timeout=timeout)
        except DataError as e:
            raise DataError(f"cannot download {name} from {url}: {str(e).split(': ', 1)[-1]}") from None
        if url == spec.url:
            verify_digest(archive, spec.md5, url, algorithm="md5")
        digest = verify_digest(archive, sha256, url)
        extract_tar(archive, staging, url)
        unpacked = staging / spec.folder
        if not (unpacked / spec.meta_file).is_file():
            raise DataError(f"the archive from {url} has no {spec.folder}/{spec.meta_file}")
        write_json_atomic(unpacked / "DOWNLOAD.json", {"url": url, "sha256": digest, "bytes": archive.stat().st_size})
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- the datamodule --------------------------------------------------------------------
def stratified_split(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded per-class split of ``range(len(labels))`` into ``(kept, held_out)`` sorted indices."""
    kept, held = [], []
    for label in labels.unique().tolist():
        idx = (labels == label).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        n_held = int(round(idx.numel() * fraction))
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return torch.cat(kept).sort().values, torch.cat(held).sort().values


def cap_per_class(labels: torch.Tensor, cap: Optional[int], generator: torch.Generator) -> torch.Tensor:
    """Sorted indices keeping at most ``cap`` (seeded random) items of every class."""
    if cap is None:
        return torch.arange(labels.numel())
    keep = []
    for label in labels.unique().tolist():
        idx = (labels == label).nonzero().flatten()
        keep.append(idx[torch.randperm(idx.numel(), generator=generator)[:cap]])
    return torch.cat(keep).sort().values


class CIFARDataModule(InMemoryImageDataModule):
    """CIFAR-100 (fine labels, study 1's stage 1) or CIFAR-10, held in memory as uint8.

    Args:
        root: folder holding ``cifar-100-python/`` or ``cifar-10-batches-py/`` (or that folder itself).
        dataset: ``"cifar100"`` (100 fine labels) or ``"cifar10"``.
        download: fetch the official archive into ``root`` first when it is missing
            (needs the network; fails with one clear line without it).
        per_class: cap on images per class in each split (seeded); ``None`` keeps all.
        val_fraction: share of the training set held out (per class, seeded) for validation.
        batch_size: images per batch (per process).
        seed: seed for the caps, the validation split, shuffling and augmentation.
        augment: random horizontal flips and small shifts on training batches (no vertical
            flips: CIFAR photographs have an upright).
        max_shift: largest shift in pixels of the 32x32 image (2 is about 6 pixels at 100x100).
    """

    def __init__(
        self,
        root: str = "data/cifar-synthetic",
        dataset: Literal["cifar100", "cifar10"] = "cifar100",
        download: bool = False,
        per_class: Optional[int] = None,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        seed: int = 0,
        augment: bool = True,
        max_shift: int = 2,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, augment=augment, max_shift=max_shift)
        self.save_hyperparameters()
        if augment:  # the shared batch path, without vertical flips
            self.augment = BatchAugment(vflip=False, max_shift=max_shift)
            self.transform.augment = self.augment
        if per_class is not None and per_class < 1:
            raise DataError(f"per_class must be a positive number or None, got {per_class}")
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.spec = cifar_spec(dataset)
        self.dataset = dataset
        self.root = Path(root)
        if download:
            download_cifar(dataset, self.root)
        self.folder = find_cifar_folder(self.root, dataset)
        self.per_class = per_class
        self.val_fraction = val_fraction
        self.synthetic = any((p / SYNTHETIC_MARKER).exists() for p in (self.folder, self.folder.parent))
        self.class_names = read_class_names(self.folder, self.spec)

    def _read(self, files: tuple[str, ...], generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = read_split(self.folder, files, self.spec.label_key)
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if bad.numel():
            raise DataError(f"{self.folder}: label {int(bad[0])} outside the {self.num_classes} classes of {self.spec.meta_file}")
        keep = cap_per_class(labels, self.per_class, generator)
        return images[keep], labels[keep]

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed)
        images, labels = self._read(self.spec.train_files, g)
        test = self._read(self.spec.test_files, g)
        train_idx, val_idx = stratified_split(labels, self.val_fraction, g)
        splits = {"train": (images[train_idx], labels[train_idx]), "val": (images[val_idx], labels[val_idx]), "test": test}
        if val_idx.numel() == 0:
            splits["val"] = test
        log.info("%s %s%s: %s", self.dataset, "(synthetic) " if self.synthetic else "", self.folder,
                 {k: v[0].shape[0] for k, v in splits.items()})
        return splits
