"""Keras training of the same task: the data path twin and the timing it reports."""
import numpy as np
import pytest
import torch

from datamodules.batches import BatchAugment, BatchTransform
from tf_models import build_keras_model
from tf_models.data import apply_augment, make_dataset, normalise, steps_and_images
from tf_models.train import KerasTrainConfig, KerasTrainingTimer, make_optimizer, train_keras


@pytest.fixture(scope="module")
def uint8_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (6, 3, 100, 100), generator=g, dtype=torch.uint8)


def test_augmentation_is_the_same_gather_as_batchaugment(uint8_batch):
    params = BatchAugment(max_shift=6).sample(6, torch.Generator().manual_seed(3))
    expected = BatchAugment(max_shift=6).apply(uint8_batch, params).permute(0, 2, 3, 1).numpy()
    got = apply_augment(uint8_batch.permute(0, 2, 3, 1).numpy(), params[:, :2].numpy().astype(bool),
                        params[:, 2:].numpy().astype(np.int32)).numpy()
    assert params[:, 2:].abs().sum() > 0 and params[:, :2].sum() > 0  # shifts and flips both exercised
    np.testing.assert_array_equal(got, expected)


def test_normalisation_matches_batchtransform(uint8_batch):
    expected = BatchTransform(channels_last=False).images(uint8_batch).permute(0, 2, 3, 1).numpy()
    got = normalise(uint8_batch.permute(0, 2, 3, 1).numpy()).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_training_dataset_drops_the_last_partial_batch_and_reshuffles():
    images = np.arange(10, dtype=np.uint8).repeat(3 * 8 * 8).reshape(10, 3, 8, 8)
    labels = np.arange(10)
    ds = make_dataset(images, labels, 4, train=True, seed=1, augment_images=False, image_size=8)
    epochs = [[y.numpy().tolist() for _, y in ds] for _ in range(2)]
    assert [len(b) for b in epochs[0]] == [4, 4] == [len(b) for b in epochs[1]]
    assert epochs[0] != epochs[1]
    assert steps_and_images(10, 4, train=True) == (2, 8)
    assert steps_and_images(10, 4, train=False) == (3, 10)


def test_optimizer_twins():
    adam = make_optimizer("adam", 3e-4)
    assert type(adam).__name__ == "Adam" and adam.epsilon == 1e-8 and float(adam.learning_rate.numpy()) == pytest.approx(3e-4)
    sgd = make_optimizer("sgd", 0.1)
    assert sgd.nesterov and sgd.momentum == 0.9
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", 0.1)


def test_tiny_keras_run_reports_timing_like_trainingtimer():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 3, 100, 100), dtype=np.uint8)
    labels = rng.integers(0, 3, 40)
    model = build_keras_model("alexnet", num_classes=3)
    result = train_keras(model, (images, labels), (images[:10], labels[:10]),
                         KerasTrainConfig(batch_size=16, epochs=2, lr=1e-3))
    assert result["epochs"] == 2 and len(result["epoch_seconds"]) == 2
    assert result["images"] == 2 * 32  # 2 full batches of 16 per epoch, the partial one dropped
    assert result["train_seconds"] == pytest.approx(sum(result["epoch_seconds"]))
    assert result["images_per_second"] == pytest.approx(64 / result["train_seconds"])
    assert len(result["history"]["val_loss"]) == 2  # validation ran, outside the clock


def test_timer_pauses_during_validation(monkeypatch):
    clock = iter([0.0, 1.0, 4.0, 5.0])  # epoch start, validation start, validation end, epoch end
    monkeypatch.setattr("tf_models.train.time.perf_counter", lambda: next(clock))
    timer = KerasTrainingTimer(images_per_epoch=10)
    timer.on_epoch_begin(0)
    timer.on_test_begin()
    timer.on_test_end()
    timer.on_epoch_end(0)
    assert timer.result["epoch_seconds"] == [2.0]
    assert timer.result["images_per_second"] == 5.0
