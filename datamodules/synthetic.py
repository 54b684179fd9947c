"""Procedurally generated fruit images in the Fruits-360 layout (clearly marked synthetic).

For a fresh clone without the real data: apple-, pear- and other fruit-like shapes with
shading, texture and colour jitter, on white, 100x100 JPEG. Apples and pears share
colours, so the task is learnable from shape but not trivial.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from common.atomic import atomic_dir

from .fruits360 import SYNTHETIC_MARKER

SIZE = 100
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE * 2 - 1  # [-1, 1)

Shape = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def _polar(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(x, y), np.arctan2(-y, x)  # angle 0 = right, pi/2 = up


def apple(x, y, rng):
    r, t = _polar(x, y * 1.08)
    radius = 0.62 * (1 - 0.10 * np.exp(-((t - np.pi / 2) ** 2) / 0.08)) * (1 + 0.05 * np.cos(2 * t))
    return radius - r


def pear(x, y, rng):
    top = 0.30 + 0.05 * rng.random()
    d1 = 0.52 - np.hypot(x, (y - 0.22) * 1.05)  # body
    d2 = top - np.hypot(x, y + 0.33)  # neck
    k = 0.18  # smooth union
    h = np.clip(0.5 + 0.5 * (d1 - d2) / k, 0, 1)
    return d2 * (1 - h) + d1 * h + k * h * (1 - h)


def round_fruit(x, y, rng):
    return 0.55 - np.hypot(x, y)


def lemon(x, y, rng):
    return 1.0 - (np.abs(x / 0.68) ** 1.6 + np.abs(y / 0.48) ** 2.2) ** 0.6


def banana(x, y, rng):
    outer = 0.70 - np.hypot(x, y + 0.35)
    inner = np.hypot(x, y + 0.70) - 0.72
    return np.minimum(np.minimum(outer, inner), 0.85 - np.abs(x) * 1.1)


def strawberry(x, y, rng):
    r, _ = _polar(x, y)
    width = 0.55 - 0.30 * (y + 0.5)
    return np.minimum(width - np.abs(x) * (1 + 0.2 * y), 0.5 - np.abs(y + 0.05))


def cherry(x, y, rng):
    return 0.34 - np.hypot(x, y - 0.1)


def ellipse(x, y, rng):
    return 0.45 - np.hypot(x * 0.75, y)


# class name -> (shape, list of base colours RGB 0..1, texture strength, stem?)
CLASSES: dict[str, tuple[Shape, list[tuple[float, float, float]], float, bool]] = {
    "Apple Braeburn": (apple, [(0.75, 0.15, 0.12), (0.85, 0.35, 0.15)], 0.10, True),
    "Apple Golden 1": (apple, [(0.90, 0.80, 0.25), (0.75, 0.80, 0.25)], 0.05, True),
    "Apple Granny Smith": (apple, [(0.45, 0.80, 0.30), (0.55, 0.75, 0.25)], 0.04, True),
    "Pear": (pear, [(0.70, 0.80, 0.25), (0.85, 0.75, 0.30)], 0.08, True),
    "Pear Red": (pear, [(0.75, 0.20, 0.15), (0.85, 0.40, 0.20)], 0.08, True),
    "Orange": (round_fruit, [(0.95, 0.55, 0.10)], 0.12, False),
    "Plum": (round_fruit, [(0.40, 0.10, 0.35), (0.55, 0.15, 0.35)], 0.04, False),
    "Lemon": (lemon, [(0.95, 0.88, 0.20)], 0.10, False),
    "Banana": (banana, [(0.95, 0.85, 0.25), (0.80, 0.85, 0.30)], 0.05, False),
    "Strawberry": (strawberry, [(0.85, 0.10, 0.15)], 0.25, False),
    "Cherry 1": (cherry, [(0.60, 0.05, 0.10)], 0.03, True),
    "Kiwi": (ellipse, [(0.50, 0.38, 0.22)], 0.20, False),
    "Mango": (ellipse, [(0.90, 0.60, 0.15), (0.60, 0.70, 0.20)], 0.06, False),
}


def render(name: str, rng: np.random.Generator) -> np.ndarray:
    """One ``100 x 100 x 3`` uint8 image of class ``name``."""
    shape, colours, texture, stem = CLASSES[name]
    angle = rng.uniform(-0.5, 0.5)
    scale = rng.uniform(0.85, 1.15)
    cx, cy = rng.uniform(-0.08, 0.08, size=2)
    c, s = np.cos(angle), np.sin(angle)
    x = ((_XX - cx) * c - (_YY - cy) * s) / scale
    y = ((_XX - cx) * s + (_YY - cy) * c) / scale
    d = shape(x, y, rng)
    inside = np.clip(d * 40, 0, 1)[..., None]  # anti-aliased mask
    base = np.array(colours[rng.integers(len(colours))]) + rng.normal(0, 0.06, 3)
    # Shading: light from the upper left, darker towards the rim.
    lx, ly = -0.35, -0.35
    light = 0.55 + 0.55 * np.exp(-((x - lx) ** 2 + (y - ly) ** 2) / 0.5)
    rim = np.clip(d * 6, 0, 1) ** 0.5
    shade = (light * (0.55 + 0.45 * rim))[..., None]
    noise = rng.normal(0, texture, (SIZE // 4, SIZE // 4))
    noise = np.kron(noise, np.ones((4, 4)))[..., None]
    fruit = np.clip(base * shade + noise * base, 0, 1)
    if stem:
        stem_mask = (np.abs(x + 0.03 * (y + 0.6)) < 0.025) & (y < -0.45) & (y > -0.80)
        fruit[stem_mask & (d < 0.05)] = (0.35, 0.25, 0.12)
        inside = np.maximum(inside, stem_mask[..., None].astype(np.float32))
    background = 1.0 - np.abs(rng.normal(0, 0.01, (SIZE, SIZE, 1)))
    img = fruit * inside + background * (1 - inside)
    return (img * 255).round().astype(np.uint8)


def make_synthetic_fruits(root: str | Path, train_per_class: int = 160, test_per_class: int = 50, seed: int = 0,
                          classes: list[str] | None = None) -> Path:
    """Write a synthetic Fruits-360-layout folder at ``root`` (atomically: temp dir, then rename)."""
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    with atomic_dir(root) as tmp:  # renamed to root only when complete
        names = classes or list(CLASSES)
        for split, count in (("Training", train_per_class), ("Test", test_per_class)):
            for k, name in enumerate(names):
                rng = np.random.default_rng([seed, k, split == "Test"])
                folder = tmp / split / name
                folder.mkdir(parents=True)
                for i in range(count):
                    Image.fromarray(render(name, rng)).save(folder / f"{i}_100.jpg", quality=90)
        (tmp / SYNTHETIC_MARKER).write_text(
            "Procedurally generated by `python cli.py data synth` (orchard). Not Fruits-360 photographs.\n")
    return root
