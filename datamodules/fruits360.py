"""Fruits-360 (``<root>/Training/<class>/*.jpg``, ``<root>/Test/<class>/*.jpg``)."""
from __future__ import annotations

import fnmatch
import logging
import random
from pathlib import Path
from typing import Literal, Optional, Union

import torch

from .errors import DataError
from .image_cache import load_images_cached
from .in_memory import InMemoryImageDataModule

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SYNTHETIC_MARKER = "SYNTHETIC"
# Study 1's 3-class task: which Fruits-360 class names go to which group.
APPLE_PEAR_NOISE = (("apple", "Apple*"), ("pear", "Pear*"))


def list_class_dirs(split_dir: Path) -> list[str]:
    if not split_dir.is_dir():
        raise DataError(f"missing folder {split_dir} (expected the Fruits-360 layout <root>/Training/<class>/*.jpg)")
    names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(f"no class folders in {split_dir}")
    return names


def list_images(class_dir: Path) -> list[Path]:
    if not class_dir.is_dir():
        raise DataError(f"missing class folder {class_dir}")
    files = []
    for p in sorted(class_dir.iterdir()):
        if p.name.startswith(".") or p.is_dir():
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"not an image file: {p}")
        files.append(p)
    if not files:
        raise DataError(f"empty class folder {class_dir}")
    return files


def _even_sample(per_class_files: list[list[Path]], cap: Optional[int], rng: random.Random) -> list[Path]:
    """Round-robin over the (shuffled) classes until ``cap`` files: an even mix of all of them."""
    pools = [rng.sample(files, len(files)) for files in per_class_files]
    if cap is None:
        return [f for pool in pools for f in pool]
    out: list[Path] = []
    depth = 0
    while len(out) < cap and any(depth < len(p) for p in pools):
        for pool in pools:
            if depth < len(pool) and len(out) < cap:
                out.append(pool[depth])
        depth += 1
    return sorted(out)


class Fruits360DataModule(InMemoryImageDataModule):
    """Fruits-360, decoded once into memory (uint8) and cached on disk.

    Args:
        root: dataset folder holding ``Training/`` and ``Test/``.
        classes: which Fruits-360 classes to use: ``None`` or ``"all"`` for all of them, or
            a list of class names and/or shell-style patterns (``"Apple*"``).
        grouping: ``"apple_pear_noise"`` builds study 1's 3-class task: ``Apple*`` classes
            -> "apple", ``Pear*`` -> "pear", an even sample of all the other classes ->
            "noise". ``None`` keeps one label per Fruits-360 class.
        per_class: cap on images per label in each split, sampled evenly across the
            classes of a group with ``seed`` (400 as in the paper; ``None`` = no cap).
        val_fraction: share of Training held out (per label, seeded) for validation.
        batch_size: images per batch (per process).
        seed: seed for sampling, the validation split, shuffling and augmentation.
        augment: random flips and small shifts on training batches.
        max_shift: largest shift in pixels.
        cache_dir: where decoded tensors are cached (default ``$ORCHARD_CACHE`` or ``.cache/orchard``).
    """

    def __init__(
        self,
        root: str = "data/fruits360",
        classes: Optional[Union[str, list[str]]] = None,
        grouping: Optional[Literal["apple_pear_noise"]] = None,
        per_class: Optional[int] = 400,
        val_fraction: float = 0.15,
        batch_size: int = 32,
        seed: int = 0,
        augment: bool = True,
        max_shift: int = 6,
        cache_dir: Optional[str] = None,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, augment=augment, max_shift=max_shift)
        self.save_hyperparameters()
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"dataset root {self.root} does not exist (run `python cli.py data synth --root {self.root}` "
                            f"for a synthetic sample, or `python cli.py data download fruits360 --root DIR`)")
        if per_class is not None and per_class < 1:
            raise DataError(f"per_class must be a positive number or None, got {per_class}")
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.per_class = per_class
        self.val_fraction = val_fraction
        self.grouping = grouping
        self.cache_dir = cache_dir
        self.synthetic = (self.root / SYNTHETIC_MARKER).exists()
        self.source_classes = self._select_classes(classes)
        self.groups = self._build_groups()
        self.class_names = list(self.groups)

    # -- class selection -------------------------------------------------------------
    def _select_classes(self, classes: Optional[Union[str, list[str]]]) -> list[str]:
        available = list_class_dirs(self.root / "Training")
        if classes is None or classes == "all":
            return available
        patterns = [classes] if isinstance(classes, str) else list(classes)
        chosen: list[str] = []
        for pattern in patterns:
            hits = [c for c in available if fnmatch.fnmatchcase(c, pattern)]
            if not hits:
                raise DataError(f"class {pattern!r} matches no folder in {self.root / 'Training'}")
            chosen += [c for c in hits if c not in chosen]
        return sorted(chosen)

    def _build_groups(self) -> dict[str, list[str]]:
        if self.grouping is None:
            return {c: [c] for c in self.source_classes}
        if self.grouping != "apple_pear_noise":
            raise DataError(f"unknown grouping {self.grouping!r}; choose apple_pear_noise or None")
        groups: dict[str, list[str]] = {}
        taken: set[str] = set()
        for label, pattern in APPLE_PEAR_NOISE:
            groups[label] = [c for c in self.source_classes if fnmatch.fnmatchcase(c, pattern)]
            if not groups[label]:
                raise DataError(f"no {pattern!r} class folders in {self.root / 'Training'} for the {label!r} group")
            taken.update(groups[label])
        groups["noise"] = [c for c in self.source_classes if c not in taken]
        if not groups["noise"]:
            raise DataError(f"no classes other than apples and pears in {self.root / 'Training'} for the 'noise' group")
        return groups

    # -- loading ---------------------------------------------------------------------
    def split_files(self, split: str, seed_offset: int) -> list[tuple[list[Path], int]]:
        """The files the ``split`` folder (``Training``/``Test``) gives, per label: the capped, evenly sampled
        files and the label index (``seed_offset`` makes the two splits' samples independent)."""
        out = []
        for label, (name, members) in enumerate(self.groups.items()):
            rng = random.Random(f"{self.seed}:{split}:{name}:{seed_offset}")
            per_class_files = [list_images(self.root / split / c) for c in members]
            out.append((_even_sample(per_class_files, self.per_class, rng), label))
        return out

    def _load(self, files: list[tuple[list[Path], int]], name: str) -> tuple[torch.Tensor, torch.Tensor]:
        paths = [p for group, _ in files for p in group]
        labels = torch.tensor([label for group, label in files for _ in group], dtype=torch.long)
        images = load_images_cached(paths, 100, self.cache_dir, name=f"fruits360-{name}")
        return images, labels

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        train_files = self.split_files("Training", 0)
        test_files = self.split_files("Test", 1)
        images, labels = self._load(train_files, "train")
        test = self._load(test_files, "test")
        # Seeded, stratified validation split from Training.
        g = torch.Generator().manual_seed(self.seed)
        val_idx, train_idx = [], []
        for label in range(self.num_classes):
            idx = (labels == label).nonzero().flatten()
            idx = idx[torch.randperm(idx.numel(), generator=g)]
            n_val = int(round(idx.numel() * self.val_fraction))
            val_idx.append(idx[:n_val])
            train_idx.append(idx[n_val:])
        tr, va = torch.cat(train_idx).sort().values, torch.cat(val_idx).sort().values
        splits = {"train": (images[tr], labels[tr]), "val": (images[va], labels[va]), "test": test}
        if va.numel() == 0:
            splits["val"] = test
        log.info("Fruits-360 %s%s: %s", "(synthetic) " if self.synthetic else "", self.root,
                 {k: v[0].shape[0] for k, v in splits.items()})
        return splits
