"""CIFAR-100 / CIFAR-10 from the official python layouts, the synthetic sample, downloads and bad input."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import cli
from datamodules.cifar import CIFAR_SPECS, CIFARDataModule, DataError, download_cifar, read_pickle
from datamodules.synthetic_cifar import make_synthetic_cifar
from tests.conftest import CIFAR10_MINI


@pytest.fixture(scope="module")
def synth100(tmp_path_factory) -> Path:
    return make_synthetic_cifar(tmp_path_factory.mktemp("c100") / "cifar", "cifar100", train_per_class=6, test_per_class=2)


def write_pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, images: np.ndarray, labels: list[int], test_images: np.ndarray | None = None) -> Path:
    """A hand-made CIFAR-10 folder: ``images`` (N x 3 x 32 x 32 uint8) spread over the five data batches."""
    folder = root / "cifar-10-batches-py"
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5)):
        write_pickle(folder / f"data_batch_{i + 1}", {"data": images[part].reshape(len(part), -1),
                                                      "labels": [labels[j] for j in part]})
    test = images if test_images is None else test_images
    write_pickle(folder / "test_batch", {"data": test.reshape(len(test), -1), "labels": labels[:len(test)]})
    write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return root


def test_the_synthetic_sample_has_the_official_cifar100_layout(synth100):
    folder = synth100 / "cifar-100-python"
    assert sorted(p.name for p in folder.iterdir()) == ["meta", "test", "train"]
    assert "SYNTHETIC" in (synth100 / "SYNTHETIC").read_text()
    with open(folder / "train", "rb") as f:  # exactly how torchvision reads the official files
        train = pickle.load(f, encoding="latin1")
    assert {"data", "fine_labels", "coarse_labels", "filenames", "batch_label"} <= set(train)
    assert train["data"].dtype == np.uint8 and train["data"].shape == (600, 3072)
    assert sorted(set(train["fine_labels"])) == list(range(100)) and max(train["coarse_labels"]) == 19
    assert "SYNTHETIC" in train["batch_label"]
    meta = read_pickle(folder / "meta")
    assert len(meta["fine_label_names"]) == 100 and len(set(meta["fine_label_names"])) == 100


def test_cifar100_loads_fine_labels_into_uint8_32x32_splits(synth100):
    data = CIFARDataModule(str(synth100), dataset="cifar100", val_fraction=0.5)
    assert data.num_classes == 100 and data.synthetic and data.class_names[0] == "red disc on light"
    data.setup()
    train, val, test = (data.splits[k] for k in ("train", "val", "test"))
    assert train[0].dtype == torch.uint8 and train[0].shape[1:] == (3, 32, 32)
    assert train[0].shape[0] == val[0].shape[0] == 300 and test[0].shape[0] == 200
    assert torch.equal(val[1].bincount(minlength=100), torch.full((100,), 3))  # stratified
    assert "synthetic" in data.describe()


def test_splits_and_caps_are_seeded(synth100):
    def split(seed: int, per_class: int | None = None) -> torch.Tensor:
        data = CIFARDataModule(str(synth100), seed=seed, per_class=per_class)
        data.setup()
        return data.splits["val"][0]

    assert torch.equal(split(0), split(0)) and not torch.equal(split(0), split(1))
    capped = CIFARDataModule(str(synth100), per_class=4, val_fraction=0.25)
    capped.setup()
    assert capped.splits["train"][1].bincount().tolist() == [3] * 100 and capped.splits["test"][0].shape[0] == 200


def test_pixels_keep_the_official_plane_and_row_order(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8)
    labels = [i % 10 for i in range(20)]
    root = write_cifar10(tmp_path / "c10", images, labels)
    data = CIFARDataModule(str(root / "cifar-10-batches-py"), dataset="cifar10", val_fraction=0.0)  # the folder itself
    data.setup()
    assert data.class_names == [f"class{i}" for i in range(10)] and not data.synthetic
    assert torch.equal(data.splits["train"][0], torch.from_numpy(images))
    assert data.splits["train"][1].tolist() == labels


def test_batches_are_upscaled_to_100_and_augmented_without_vertical_flips(synth100):
    data = CIFARDataModule(str(synth100), batch_size=16)
    batch = next(iter(data.train_dataloader()))
    assert batch[0].shape == (16, 3, 32, 32) and batch[0].dtype == torch.uint8  # 32x32 until the device
    assert batch[2][:, 1].eq(0).all() and batch[2][:, 2:].abs().max() <= 2  # no vflip, shifts of <= 2 px
    x, y = data.on_after_batch_transfer(batch, 0)
    assert x.shape == (16, 3, 100, 100) and x.dtype == torch.float32 and y.shape == (16,)
    assert -1.0 - 1e-6 <= x.min() < x.max() <= 1.0 + 1e-6  # [-1, 1] up to float32 rounding of 255 * (1 / 127.5) - 1


@pytest.mark.skipif(not CIFAR10_MINI.is_dir(), reason="../shared/data/cifar10-mini is absent")
def test_the_real_reencoded_cifar10_subset_loads_without_any_checksum():
    from torchvision.datasets.utils import check_integrity

    folder = CIFAR10_MINI / "cifar-10-batches-py"
    assert not check_integrity(str(folder / "batches.meta"), "5ff9c542aee3614f3951f8cda6e48888")  # torchvision would refuse
    data = CIFARDataModule(str(CIFAR10_MINI), dataset="cifar10", val_fraction=0.1)
    data.setup()
    assert data.class_names[:3] == ["airplane", "automobile", "bird"] and not data.synthetic
    assert data.splits["train"][0].shape == (9000, 3, 32, 32) and data.splits["test"][0].shape == (2000, 3, 32, 32)
    assert data.splits["train"][0].float().std() > 30  # real photographs, not a blank array


def test_missing_data_fails_in_one_line_with_the_way_to_get_it(tmp_path):
    with pytest.raises(DataError) as error:
        CIFARDataModule(str(tmp_path / "nowhere"), dataset="cifar100")
    message = str(error.value)
    assert f"no cifar100 data in {tmp_path / 'nowhere'}" in message and "data download cifar100" in message
    with pytest.raises(DataError, match="unknown CIFAR dataset 'cifar1000'"):
        CIFARDataModule(str(tmp_path), dataset="cifar1000")


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.write_bytes(b"\x00garbage"), "is not a CIFAR python pickle"),
    (lambda f: write_pickle(f, {"labels": [0]}), "has no 'data' entry"),
    (lambda f: write_pickle(f, {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}), "'data' must be uint8 N x 3072"),
    (lambda f: write_pickle(f, {"data": np.zeros((2, 3072), np.uint8), "labels": [0]}), "2 images but 1 labels"),
    (lambda f: write_pickle(f, {"data": np.zeros((1, 3072), np.uint8), "labels": [42]}), "label 42 outside the 10 classes"),
    (lambda f: f.unlink(), "missing CIFAR file"),
])
def test_damaged_files_fail_naming_the_file(tmp_path, damage, message):
    root = write_cifar10(tmp_path, np.zeros((10, 3, 32, 32), np.uint8), list(range(10)))
    damage(root / "cifar-10-batches-py" / "data_batch_3")
    data = CIFARDataModule(str(root), dataset="cifar10")
    with pytest.raises(DataError, match=message):
        data.setup()


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({"data": Exploit()}))
    with pytest.raises(DataError, match="unexpected object builtins.print"):
        read_pickle(path)


def test_download_returns_present_data_and_fails_offline_in_one_line_leaving_nothing(synth100, tmp_path):
    assert download_cifar("cifar100", synth100) == synth100 / "cifar-100-python"  # no network needed
    with pytest.raises(DataError) as error:
        download_cifar("cifar10", tmp_path / "dl", url="http://127.0.0.1:9/cifar-10-python.tar.gz", timeout=5)
    message = str(error.value)
    assert message.startswith("cannot download cifar10 from http://127.0.0.1:9/") and "\n" not in message
    assert list((tmp_path / "dl").iterdir()) == []  # no half-written archive or staging folder


def test_download_uses_the_official_urls_and_checksums():
    assert CIFAR_SPECS["cifar100"].url == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert CIFAR_SPECS["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert CIFAR_SPECS["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"


def test_data_cli_writes_the_synthetic_sample_and_reports_present_downloads(tmp_path, capsys):
    root = tmp_path / "cifar-synthetic"
    assert cli.main(["data", "synth", "cifar100", "--root", str(root), "--train-per-class", "2", "--test-per-class", "1"]) == 0
    assert f"wrote SYNTHETIC cifar100-layout data to {root}" in capsys.readouterr().out
    assert CIFARDataModule(str(root)).num_classes == 100
    assert cli.main(["data", "synth", "cifar100", "--root", str(root)]) == 0  # kept, not rewritten
    assert "exists; keeping it" in capsys.readouterr().out
    assert cli.main(["data", "download", "cifar100", "--root", str(root)]) == 0
    assert f"cifar100 ready in {root / 'cifar-100-python'}" in capsys.readouterr().out
