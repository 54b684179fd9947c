"""Base LightningDataModule for image sets decoded into memory as uint8 tensors."""
from __future__ import annotations

from typing import Optional

import pytorch_lightning as pl
import torch

from .batches import BatchAugment, BatchTransform, InMemoryBatches
from .errors import DataError


class InMemoryImageDataModule(pl.LightningDataModule):
    """Holds ``train``/``val``/``test`` uint8 tensors and serves whole batches.

    Subclasses fill ``self.class_names`` in ``__init__`` (so LightningCLI can link
    ``num_classes`` into the model) and implement :meth:`load_splits`.
    Augmentation, resizing and normalisation run in :meth:`on_after_batch_transfer`,
    on the whole batch and on the training device.
    """

    class_names: list[str]
    synthetic: bool = False

    def __init__(
        self,
        batch_size: int = 32,
        seed: int = 0,
        augment: bool = True,
        max_shift: int = 6,
        image_size: int = 100,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        if max_shift < 0:
            raise DataError(f"max_shift must be 0 or more pixels, got {max_shift!r}")
        self.batch_size = batch_size
        self.seed = seed
        self.augment = BatchAugment(max_shift=max_shift) if augment else None
        self.transform = BatchTransform(image_size=image_size, augment=self.augment, channels_last=channels_last)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # float tensors standing in for a split's images (a frozen-feature cache), served as they are
        self.split_features: dict[str, torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:  # pragma: no cover - abstract
        """Return ``{"train"|"val"|"test": (uint8 images, int64 labels)}``."""
        raise NotImplementedError

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.splits:
            self.splits = self.load_splits()

    def _epoch(self) -> int:
        trainer = getattr(self, "trainer", None)
        return trainer.current_epoch if trainer is not None else 0

    def batches(self, split: str, train: bool = False, batch_size: Optional[int] = None) -> InMemoryBatches:
        self.setup()
        images, labels = self.splits[split]
        features = self.split_features.get(split)
        return InMemoryBatches(
            images if features is None else features, labels, batch_size or self.batch_size,
            shuffle=train, drop_last=train and images.shape[0] > (batch_size or self.batch_size),
            seed=self.seed, epoch_fn=self._epoch, augment=self.augment if train and features is None else None,
        )

    def use_features(self, features: dict[str, torch.Tensor]) -> None:
        """Serve ``features[split]`` (one float row per image, in the split's order) instead of its images.

        The batches keep the images' order and sizes; :meth:`on_after_batch_transfer` passes
        float batches through untransformed. :meth:`drop_features` goes back to the images.
        """
        for split, f in features.items():
            if f.shape[0] != self.splits[split][0].shape[0]:
                raise ValueError(f"{f.shape[0]} feature rows for {self.splits[split][0].shape[0]} {split} images")
        self.split_features = dict(features)

    def drop_features(self) -> None:
        """Serve the images again."""
        self.split_features = {}

    def on_exception(self, exception: BaseException) -> None:
        self.drop_features()

    def train_dataloader(self) -> InMemoryBatches:
        return self.batches("train", train=True)

    def val_dataloader(self) -> InMemoryBatches:
        return self.batches("val")

    def test_dataloader(self) -> InMemoryBatches:
        return self.batches("test")

    def predict_dataloader(self) -> InMemoryBatches:
        return self.batches("test")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if batch[0].is_floating_point():  # precomputed features (use_features), not images
            return batch[0], batch[1]
        return self.transform(batch)

    def sample_images(self, n: int = 20, split: str = "test") -> torch.Tensor:
        """``n`` normalised float images (NCHW, contiguous) for calibration and parity checks."""
        self.setup()
        images = self.splits[split][0]
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(images.shape[0], generator=g)[:n]
        return self.transform.images(images[idx]).contiguous()

    def describe(self) -> str:
        kind = "synthetic " if self.synthetic else ""
        sizes = ", ".join(f"{k} {v[0].shape[0]}" for k, v in self.splits.items())
        return f"{kind}{type(self).__name__}: {self.num_classes} classes ({sizes})"
