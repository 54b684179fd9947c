"""A procedurally generated sample in the official CIFAR python layout (clearly marked synthetic).

Stands in for CIFAR-100 in the demo and the tests: 100 classes of 32x32 RGB images, each
class one combination of a shape (disc, square, triangle, ring, bar), a colour and a
background, with random position, size, colour jitter and pixel noise, so it is
learnable but not trivial. Written as ``<root>/cifar-100-python/{train,test,meta}``
(or, with ``dataset="cifar10"``, the 10-class ``cifar-10-batches-py`` files), pickled
exactly as the official files are read: dicts of ``data`` (uint8 N x 3072, channel
planes R, G, B, rows top first), label lists and names.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from common.atomic import atomic_dir

from .cifar import SYNTHETIC_MARKER, cifar_spec

SIDE = 32
SHAPES = ("disc", "square", "triangle", "ring", "bar")
COLOURS = {"red": (0.85, 0.15, 0.15), "green": (0.2, 0.7, 0.25), "blue": (0.2, 0.3, 0.85),
           "yellow": (0.9, 0.8, 0.2), "purple": (0.6, 0.25, 0.7)}
BACKGROUNDS = ("light", "dark", "gradient", "speckled")
_YY, _XX = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE * 2 - 1  # [-1, 1)


def class_names(num_classes: int = 100) -> list[str]:
    """``"<colour> <shape> on <background>"`` for the first ``num_classes`` combinations."""
    names = [f"{c} {s} on {b}" for b in BACKGROUNDS for s in SHAPES for c in COLOURS]
    if not 1 <= num_classes <= len(names):
        raise ValueError(f"num_classes must be in 1..{len(names)}, got {num_classes}")
    return names[:num_classes]


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Anti-aliased ``n x 32 x 32`` coverage of ``shape`` centred at 0 with half-size ``size``."""
    s = size[:, None, None]
    if shape == "disc":
        d = s - np.hypot(x, y)
    elif shape == "square":
        d = s * 0.85 - np.maximum(np.abs(x), np.abs(y))
    elif shape == "triangle":
        d = np.minimum(s * 0.7 - y, (y + s) * 0.6 - np.abs(x))
    elif shape == "ring":
        r = np.hypot(x, y)
        d = np.minimum(s - r, r - s * 0.55)
    else:  # bar
        d = np.minimum(s * 0.3 - np.abs(y), s * 1.1 - np.abs(x))
    return np.clip(d * SIDE / 2 + 0.5, 0, 1)


def _background(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "light":
        bg = np.full((n, SIDE, SIDE, 3), 0.85) + rng.normal(0, 0.03, (n, 1, 1, 3))
    elif kind == "dark":
        bg = np.full((n, SIDE, SIDE, 3), 0.15) + rng.normal(0, 0.03, (n, 1, 1, 3))
    elif kind == "gradient":
        t = (_YY[None, :, :, None] + 1) / 2
        bg = 0.25 + 0.5 * t * rng.uniform(0.7, 1.0, (n, 1, 1, 3))
    else:  # speckled
        bg = 0.5 + rng.normal(0, 0.18, (n, SIDE, SIDE, 1)) + rng.normal(0, 0.05, (n, 1, 1, 3))
    return bg


def render_class(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n x 3 x 32 x 32`` uint8 images of class ``label``."""
    colour_i, rest = label % len(COLOURS), label // len(COLOURS)
    shape, background = SHAPES[rest % len(SHAPES)], BACKGROUNDS[rest // len(SHAPES)]
    centre = rng.uniform(-0.3, 0.3, (n, 2))
    angle = rng.uniform(-0.4, 0.4, n)[:, None, None]
    x0 = _XX[None] - centre[:, 0, None, None]
    y0 = _YY[None] - centre[:, 1, None, None]
    x = x0 * np.cos(angle) - y0 * np.sin(angle)
    y = x0 * np.sin(angle) + y0 * np.cos(angle)
    mask = _shape_mask(shape, x, y, rng.uniform(0.35, 0.6, n))[..., None]
    colour = np.array(COLOURS[list(COLOURS)[colour_i]]) + rng.normal(0, 0.07, (n, 1, 1, 3))
    shading = 1.0 - 0.25 * (x + y)[..., None] / 2
    img = mask * np.clip(colour * shading, 0, 1) + (1 - mask) * _background(background, n, rng)
    img = np.clip(img + rng.normal(0, 0.04, img.shape), 0, 1)
    return (img * 255).round().astype(np.uint8).transpose(0, 3, 1, 2)


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((labels.size, 3, SIDE, SIDE), dtype=np.uint8)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        out[where] = render_class(int(label), where.size, rng)
    return out


def _batch(images: np.ndarray, labels: np.ndarray, label_key: str, batch_label: str, prefix: str) -> dict:
    entry = {
        "batch_label": f"{batch_label} (SYNTHETIC, orchard)",
        label_key: labels.tolist(),
        "data": images.reshape(images.shape[0], -1),
        "filenames": [f"synthetic_{prefix}_{i:05d}.png" for i in range(images.shape[0])],
    }
    if label_key == "fine_labels":
        entry["coarse_labels"] = (labels // 5).tolist()
    return entry


def _dump(obj: dict, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # the protocol of the official (Python 2) files


def make_synthetic_cifar(root: str | Path, dataset: str = "cifar100", train_per_class: int = 50,
                         test_per_class: int = 10, seed: int = 0) -> Path:
    """Write a synthetic sample in ``dataset``'s official layout under ``root`` (temp dir, then rename).

    ``cifar100`` has 100 classes, ``cifar10`` the first 10. ``root/SYNTHETIC`` marks it.
    Returns ``root``.
    """
    spec = cifar_spec(dataset)
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    num_classes = 100 if dataset == "cifar100" else 10
    names = class_names(num_classes)
    rng = np.random.default_rng(seed)
    with atomic_dir(root) as tmp:  # renamed to root only when complete
        folder = tmp / spec.folder
        folder.mkdir()
        for files, per_class, kind in ((spec.train_files, train_per_class, "training"), (spec.test_files, test_per_class, "testing")):
            labels = rng.permutation(np.repeat(np.arange(num_classes), per_class))
            images = _images(labels, rng)
            for i, (name, part) in enumerate(zip(files, np.array_split(np.arange(labels.size), len(files)))):
                label = f"{kind} batch {i + 1} of {len(files)}"
                _dump(_batch(images[part], labels[part], spec.label_key, label, f"{name}"), folder / name)
        meta = {spec.names_key: names}
        if dataset == "cifar100":
            meta["coarse_label_names"] = [f"group {i}" for i in range(20)]
        else:
            meta.update(num_cases_per_batch=-(-train_per_class * num_classes // len(spec.train_files)), num_vis=3 * SIDE * SIDE)
        _dump(meta, folder / spec.meta_file)
        (tmp / SYNTHETIC_MARKER).write_text(
            f"SYNTHETIC: procedurally generated by `python cli.py data synth {dataset}` (orchard). Not CIFAR photographs.\n")
    return root

