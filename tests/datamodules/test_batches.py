"""The whole-batch data path: seeded order, shards, augmentation and normalisation."""
import torch

import pytest

from datamodules.batches import BatchAugment, BatchTransform, InMemoryBatches, take_rows


def _data(n=10):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()
    return images, torch.arange(n)


def test_order_is_seeded_per_epoch_and_covers_every_image():
    images, labels = _data()
    epoch = {"e": 0}
    batches = InMemoryBatches(images, labels, batch_size=4, shuffle=True, seed=1, epoch_fn=lambda: epoch["e"])
    first = torch.cat([y for _, y in batches])
    assert sorted(first.tolist()) == list(range(10)) and len(batches) == 3
    assert torch.equal(first, torch.cat([y for _, y in batches]))  # same epoch, same order (a resumed run)
    epoch["e"] = 1
    assert not torch.equal(first, torch.cat([y for _, y in batches]))


def test_drop_last_and_unshuffled_order():
    images, labels = _data()
    batches = InMemoryBatches(images, labels, batch_size=4, drop_last=True)
    assert len(batches) == 2 and torch.cat([y for _, y in batches]).tolist() == list(range(8))


def test_labels_stay_with_their_images():
    images, labels = _data()
    for x, y in InMemoryBatches(images, labels, batch_size=3, shuffle=True, seed=5):
        assert torch.equal(x[:, 0, 0, 0].long(), y)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "transposed", "labels", "features"])
def test_take_rows_equals_advanced_indexing_in_values_and_layout(layout):
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 255, (12, 3, 5, 7), generator=g, dtype=torch.uint8)
    if layout == "channels_last":
        t = t.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        t = t.transpose(2, 3)
    elif layout == "labels":
        t = torch.arange(12) * 3
    elif layout == "features":  # a feature cache: float, channels-last, 1 x 1 maps are both layouts at once
        t = torch.randn(12, 8, 1, 1, generator=g).contiguous(memory_format=torch.channels_last)
    idx = torch.tensor([5, 0, 11, 5, 3])
    got, want = take_rows(t, idx), t[idx]
    assert torch.equal(got, want) and got.dtype == want.dtype
    if layout != "transposed":  # advanced indexing keeps a dense layout's strides
        assert got.stride() == want.stride()
    assert take_rows(t, idx[:0]).shape == want[:0].shape


def test_augmentation_parameters_are_reproducible():
    images, labels = _data()
    aug = BatchAugment(max_shift=2)
    make = lambda: InMemoryBatches(images, labels, 4, shuffle=True, seed=2, augment=aug)  # noqa: E731
    a = [b[2] for b in make()]
    b = [b[2] for b in make()]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert a[0].shape == (4, 4) and a[0][:, 2:].abs().max() <= 2


def test_flips_and_shifts_match_torch_reference():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    aug = BatchAugment()
    params = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]])
    out = aug.apply(x, params)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1].flip(-2))
    shifted = aug.apply(x, torch.tensor([[0, 0, 1, 2], [0, 0, 0, 0]]))
    assert torch.equal(shifted[0, :, 1:, 2:], x[0, :, :-1, :-2])  # moved down 1, right 2
    assert torch.equal(shifted[0, :, 0, 2:], x[0, :, 0, :-2])  # border replicated
    assert torch.equal(shifted[1], x[1])


def test_transform_resizes_whole_batch_and_normalises():
    t = BatchTransform(image_size=100, channels_last=True)
    x = torch.full((5, 3, 32, 32), 255, dtype=torch.uint8)
    out, y = t((x, torch.zeros(5, dtype=torch.long)))
    assert out.shape == (5, 3, 100, 100) and torch.allclose(out, torch.ones_like(out))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(t.images(torch.zeros(1, 3, 100, 100, dtype=torch.uint8)), -torch.ones(1, 3, 100, 100))
