"""Fruits360DataModule on small generated folders: grouping, caps, seeds, cache and bad input."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules import DataError, Fruits360DataModule
from datamodules.synthetic import make_synthetic_fruits


def _write(path: Path, size=(100, 100), mode="RGB", colour=(200, 30, 30), mark: int = 0):
    """A plain image with a white 8x8 mark at a position given by ``mark`` (unique per image)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new(mode, size, colour if mode == "RGB" else 128)
    if mode == "RGB":
        im.paste((255, 255, 255), (8 * (mark % 12), 8 * (mark // 12 % 12), 8 * (mark % 12) + 8, 8 * (mark // 12 % 12) + 8))
    im.save(path)


def make_folder(root: Path, counts: dict[str, int], test_count: int = 2) -> Path:
    """Plain-colour images in the Fruits-360 layout; colour encodes the class index."""
    for k, (name, n) in enumerate(counts.items()):
        for split, m in (("Training", n), ("Test", test_count)):
            for i in range(m):
                _write(root / split / name / f"{i}_100.jpg", colour=(10 * k, 255 - 10 * k, 0), mark=i)
    return root


GROUP_COUNTS = {"Apple A": 30, "Apple B": 10, "Pear": 12, "Banana": 20, "Kiwi": 20, "Lemon": 20}


def test_apple_pear_noise_grouping_caps_and_even_noise(tmp_path):
    root = make_folder(tmp_path / "f", GROUP_COUNTS, test_count=3)
    dm = Fruits360DataModule(str(root), grouping="apple_pear_noise", per_class=15, val_fraction=0.0)
    assert dm.class_names == ["apple", "pear", "noise"] and dm.num_classes == 3  # known before setup
    assert dm.groups["apple"] == ["Apple A", "Apple B"] and dm.groups["pear"] == ["Pear"]
    assert dm.groups["noise"] == ["Banana", "Kiwi", "Lemon"]
    files = dm.split_files("Training", 0)
    counts = [len(f) for f, _ in files]
    assert counts == [15, 12, 15]  # pears below the cap keep all 12
    noise_classes = [p.parent.name for p in files[2][0]]
    assert sorted({c: noise_classes.count(c) for c in set(noise_classes)}.values()) == [5, 5, 5]
    apple_classes = [p.parent.name for p in files[0][0]]
    assert apple_classes.count("Apple B") == 7 or apple_classes.count("Apple B") == 8  # even mix, not all from A


def test_sampling_and_split_are_seeded(tmp_path):
    root = make_folder(tmp_path / "f", GROUP_COUNTS)
    kw = dict(grouping="apple_pear_noise", per_class=10, val_fraction=0.3)
    a, b, c = (Fruits360DataModule(str(root), seed=s, **kw) for s in (0, 0, 1))
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.splits["train"][0], b.splits["train"][0])
    assert torch.equal(a.splits["val"][1], b.splits["val"][1])
    assert not torch.equal(a.splits["train"][0], c.splits["train"][0])


def test_validation_split_is_stratified_and_disjoint(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 20, "B": 10})
    dm = Fruits360DataModule(str(root), val_fraction=0.2, seed=3)
    dm.setup()
    (tr_x, tr_y), (va_x, va_y) = dm.splits["train"], dm.splits["val"]
    assert torch.bincount(va_y).tolist() == [4, 2] and torch.bincount(tr_y).tolist() == [16, 8]
    key = lambda x: (int(x[0, 0, 0]) // 5, int((x[0] > 200).flatten().nonzero()[0]))  # class colour, mark position
    train_keys = {key(x) for x in tr_x}
    assert len(train_keys) == 24 and not any(key(x) in train_keys for x in va_x)


def test_class_selection_by_list_and_pattern(tmp_path):
    root = make_folder(tmp_path / "f", GROUP_COUNTS)
    assert Fruits360DataModule(str(root), classes="all").num_classes == 6
    assert Fruits360DataModule(str(root), classes=["Apple*", "Kiwi"]).class_names == ["Apple A", "Apple B", "Kiwi"]
    with pytest.raises(DataError, match="'Mango' matches no folder"):
        Fruits360DataModule(str(root), classes=["Mango"])


def test_images_are_decoded_once_and_cached(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "f", {"A": 4, "B": 4})
    cache = tmp_path / "cache"
    dm = Fruits360DataModule(str(root), cache_dir=str(cache), val_fraction=0.0)
    dm.setup()
    assert dm.splits["train"][0].dtype == torch.uint8 and dm.splits["train"][0].shape == (8, 3, 100, 100)
    cached = sorted(p.name for p in cache.iterdir())
    assert len(cached) == 2 and all(n.endswith(".pt") for n in cached)  # train + test, no temp files

    import datamodules.image_cache as ic

    def fail(*a, **k):
        raise AssertionError("decoded again despite an unchanged file list")

    monkeypatch.setattr(ic, "decode_images", fail)
    again = Fruits360DataModule(str(root), cache_dir=str(cache), val_fraction=0.0)
    again.setup()
    assert torch.equal(again.splits["train"][0], dm.splits["train"][0])


def test_changed_file_list_invalidates_the_cache(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 4, "B": 4})
    cache = tmp_path / "cache"
    Fruits360DataModule(str(root), cache_dir=str(cache)).setup()
    _write(root / "Training" / "A" / "new_100.jpg")
    dm = Fruits360DataModule(str(root), cache_dir=str(cache), val_fraction=0.0)
    dm.setup()
    assert dm.splits["train"][0].shape[0] == 9


def test_batches_arrive_normalised_and_augmented_only_in_training(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 8, "B": 8})
    dm = Fruits360DataModule(str(root), batch_size=4, val_fraction=0.25)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert len(batch) == 3  # images, labels, augmentation parameters
    x, y = dm.on_after_batch_transfer(batch, 0)
    assert x.dtype == torch.float32 and x.shape == (4, 3, 100, 100) and -1.0 <= x.min() <= x.max() <= 1.0
    assert x.is_contiguous(memory_format=torch.channels_last)  # matches ImageClassifier's default
    assert len(next(iter(dm.val_dataloader()))) == 2  # no augmentation outside training


# -- bad input ------------------------------------------------------------------------

def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        Fruits360DataModule(str(tmp_path / "nope"))


def test_root_without_training_folder(tmp_path):
    (tmp_path / "f").mkdir()
    with pytest.raises(DataError, match="missing folder .*Training"):
        Fruits360DataModule(str(tmp_path / "f"))


def test_empty_class_folder(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    for p in (root / "Training" / "B").iterdir():
        p.unlink()
    dm = Fruits360DataModule(str(root))
    with pytest.raises(DataError, match="empty class folder .*Training/B"):
        dm.setup()


def test_class_missing_from_test_split(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    shutil.rmtree(root / "Test" / "B")
    with pytest.raises(DataError, match="missing class folder .*Test/B"):
        Fruits360DataModule(str(root)).setup()


def test_corrupt_image_names_the_file_and_leaves_no_cache(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    bad = root / "Training" / "B" / "1_100.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=f"cannot decode image {bad}"):
        Fruits360DataModule(str(root), cache_dir=str(cache)).setup()
    assert not cache.exists() or not any(cache.iterdir())


def test_non_image_file_is_named(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    (root / "Training" / "A" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not an image file: .*notes.txt"):
        Fruits360DataModule(str(root)).setup()


def test_grayscale_and_odd_sized_images_are_converted_with_a_warning(tmp_path, caplog):
    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    _write(root / "Training" / "A" / "gray.jpg", mode="L")
    _write(root / "Training" / "B" / "big.png", size=(120, 80))
    dm = Fruits360DataModule(str(root), val_fraction=0.0)
    with caplog.at_level("WARNING"):
        dm.setup()
    assert dm.splits["train"][0].shape == (8, 3, 100, 100)
    assert "2 of 8 images were not 100x100 RGB and were converted" in caplog.text


def test_grouping_without_pears_is_explained(tmp_path):
    root = make_folder(tmp_path / "f", {"Apple A": 3, "Kiwi": 3})
    with pytest.raises(DataError, match="no 'Pear\\*' class folders"):
        Fruits360DataModule(str(root), grouping="apple_pear_noise")


def test_bad_per_class(tmp_path):
    root = make_folder(tmp_path / "f", {"A": 3})
    with pytest.raises(DataError, match="per_class"):
        Fruits360DataModule(str(root), per_class=0)


# -- synthetic sample ---------------------------------------------------------------

def test_synthetic_folder_is_marked_and_has_the_layout(tmp_path):
    root = make_synthetic_fruits(tmp_path / "s", train_per_class=3, test_per_class=2)
    dm = Fruits360DataModule(str(root), grouping="apple_pear_noise")
    assert dm.synthetic and "synthetic" in (dm.setup() or dm.describe())
    img = np.asarray(Image.open(next((root / "Training" / "Pear").iterdir())))
    assert img.shape == (100, 100, 3) and img[0, 0].min() > 200  # white background
    with pytest.raises(FileExistsError):
        make_synthetic_fruits(root, 1, 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_real_fruits_mini_three_class_task(fruits_mini):
    dm = Fruits360DataModule(str(fruits_mini), grouping="apple_pear_noise", per_class=60)
    dm.setup()
    counts = torch.bincount(torch.cat([dm.splits["train"][1], dm.splits["val"][1]])).tolist()
    assert counts == [60, 60, 60]
    assert not dm.synthetic


@pytest.mark.parametrize("kind", ["inside a file", "read-only folder"])
def test_an_unwritable_cache_warns_once_and_the_data_still_loads(tmp_path, caplog, kind):
    import os

    root = make_folder(tmp_path / "f", {"A": 3, "B": 3})
    if kind == "inside a file":
        (tmp_path / "file").write_text("")
        cache = tmp_path / "file" / "cache"  # mkdir fails: not a directory
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        cache = tmp_path / "ro"
        cache.mkdir()
        cache.chmod(0o555)
    dm = Fruits360DataModule(str(root), cache_dir=str(cache), val_fraction=0.0)
    dm.setup()
    assert dm.splits["train"][0].shape == (6, 3, 100, 100) and dm.splits["test"][0].shape[0] == 4
    warnings = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1 and str(cache) in warnings[0]  # train and test splits: one warning


@pytest.mark.parametrize("batch_size", [0, -5, 2.5])
def test_a_batch_size_below_one_is_refused_in_one_line(tmp_path, batch_size):
    with pytest.raises(DataError, match=f"batch_size must be a whole number of at least 1, got {batch_size}"):
        Fruits360DataModule(str(tmp_path), batch_size=batch_size)
