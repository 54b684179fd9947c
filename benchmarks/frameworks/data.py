"""The one data set and the one set of initial weights every framework in the benchmark uses.

The parent process decodes the images once (``Fruits360DataModule``) and writes them, with
the seeded initial weights of the PyTorch net, into a work folder; each measurement process
loads exactly those arrays (PyTorch and Lightning through :class:`ArrayDataModule`, Keras
through numpy), so no framework decodes, samples or initialises differently.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from datamodules.in_memory import InMemoryImageDataModule

ARRAYS_FILE = "arrays.npz"
INIT_TORCH_FILE = "init_weights.pt"
INIT_NUMPY_FILE = "init_weights.npz"
SPLITS = ("train", "val", "test")


@dataclass
class DataSpec:
    """Which images the benchmark trains on.

    Args:
        root: Fruits-360-layout folder.
        grouping: ``"apple_pear_noise"`` (study 1's 3-class task) or ``None`` (one label per class).
        per_class: cap per label.
        classes: Fruits-360 classes to use (``None``: all).
        seed: sampling, split, shuffle and augmentation seed.
    """

    root: str
    grouping: Optional[str] = "apple_pear_noise"
    per_class: Optional[int] = 400
    classes: Optional[list[str]] = None
    seed: int = 0


def write_arrays(spec: DataSpec, work: Path) -> dict:
    """Decode ``spec``'s images once and save them as uint8 NCHW arrays in ``work``; returns a summary."""
    from datamodules import Fruits360DataModule

    data = Fruits360DataModule(spec.root, classes=spec.classes, grouping=spec.grouping, per_class=spec.per_class,
                               seed=spec.seed)
    data.setup()
    arrays = {"class_names": np.array(data.class_names)}
    for split in SPLITS:
        images, labels = data.splits[split]
        arrays[f"{split}_images"] = images.numpy()
        arrays[f"{split}_labels"] = labels.numpy()
    np.savez(work / ARRAYS_FILE, **arrays)
    return {
        "root": str(spec.root),
        "synthetic": bool(data.synthetic),
        "grouping": spec.grouping,
        "per_class": spec.per_class,
        "classes": data.class_names,
        "images": {split: int(arrays[f"{split}_labels"].shape[0]) for split in SPLITS},
    }


def write_initial_weights(arch: str, num_classes: int, seed: int, work: Path) -> None:
    """The seeded PyTorch initialisation, as a state dict (PyTorch) and as numpy (Keras)."""
    import torch

    from lightning_modules.architectures import build_model

    torch.manual_seed(seed)
    net = build_model(arch, num_classes=num_classes)
    torch.save(net.state_dict(), work / INIT_TORCH_FILE)
    np.savez(work / INIT_NUMPY_FILE, **{k: v.numpy() for k, v in net.state_dict().items()})


def load_arrays(work: Path) -> dict[str, np.ndarray]:
    """``{"train_images", "train_labels", ..., "class_names"}`` from :func:`write_arrays`."""
    with np.load(Path(work) / ARRAYS_FILE) as f:
        return {k: f[k] for k in f.files}


class ArrayDataModule(InMemoryImageDataModule):
    """An orchard in-memory datamodule over the benchmark's saved arrays.

    Behaves exactly like ``Fruits360DataModule`` once the images are in memory (same base
    class: whole-batch augmentation, normalisation and shuffling).

    Args:
        path: the work folder holding ``arrays.npz``.
        batch_size: images per batch.
        seed: shuffle and augmentation seed.
        augment: random flips and shifts on training batches.
        max_shift: largest shift in pixels.
        predict_images: test images ``predict`` runs over (``None``: all).
        predict_batch_size: batch size of ``predict`` (``None``: ``batch_size``).
        channels_last: batches in ``torch.channels_last`` memory format.
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 64,
        seed: int = 0,
        augment: bool = True,
        max_shift: int = 6,
        predict_images: Optional[int] = None,
        predict_batch_size: Optional[int] = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, seed=seed, augment=augment, max_shift=max_shift,
                         channels_last=channels_last)
        self.save_hyperparameters()
        self.path = Path(path)
        with np.load(self.path / ARRAYS_FILE) as f:
            self.class_names = [str(c) for c in f["class_names"]]
        self.predict_images = predict_images
        self.predict_batch_size = predict_batch_size

    def load_splits(self):
        import torch

        arrays = load_arrays(self.path)
        return {s: (torch.from_numpy(arrays[f"{s}_images"]), torch.from_numpy(arrays[f"{s}_labels"])) for s in SPLITS}

    def predict_dataloader(self):
        self.setup()
        images, labels = self.splits["test"]
        n = self.predict_images or images.shape[0]
        from datamodules.batches import InMemoryBatches

        return InMemoryBatches(images[:n], labels[:n], self.predict_batch_size or self.batch_size)
