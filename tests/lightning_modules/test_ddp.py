"""Multi-process training on CPU (gloo): ``--trainer.devices 2 --trainer.strategy ddp`` through ``python cli.py fit``,
with frozen blocks, one time for the fit, and every rank seeing its own shard in the same number of steps."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from datamodules.synthetic_cifar import make_synthetic_cifar
from lightning_modules.architectures import build_model
from lightning_modules.init_from import read_state_dict
from tests.helpers.ddp import shard_worker
from tests.conftest import run_cli

WORLD = 2


def read_ranks(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank{r}.json").read_text()) for r in range(WORLD)]


def test_each_rank_gets_its_own_shard_with_as_many_steps_as_the_others(tmp_path):
    cases = [(22, 4), (9, 2)]  # neither divides evenly among the ranks
    mp.spawn(shard_worker, args=(WORLD, str(tmp_path / "init"), str(tmp_path), cases), nprocs=WORLD, join=True)
    ranks = read_ranks(tmp_path)
    for n, batch_size in cases:
        for drop_last in ("False", "True"):
            for epoch in range(2):
                per_rank = [r[f"{n}x{batch_size}"][drop_last][epoch] for r in ranks]
                assert per_rank[0]["len"] == per_rank[1]["len"] == len(per_rank[0]["batches"]) == len(per_rank[1]["batches"])
                items = [[i for b in r["batches"] for i in b] for r in per_rank]
                if drop_last == "False":  # every item once; the padding repeats fewer than world items
                    assert set(items[0]) | set(items[1]) == set(range(n))
                    assert len(items[0]) + len(items[1]) - n < WORLD
                else:
                    assert not set(items[0]) & set(items[1])
                    assert all(len(b) == batch_size for b in per_rank[0]["batches"])
            first, second = (ranks[0][f"{n}x{batch_size}"][drop_last][e]["batches"] for e in range(2))
            assert first != second  # each epoch draws a new order


@pytest.fixture(scope="module")
def ddp_fit(tmp_path_factory) -> Path:
    """A 2-process DDP fit on CPU of a stage with conv1-conv3 frozen, started from a 7-class checkpoint."""
    tmp = tmp_path_factory.mktemp("ddp")
    data = make_synthetic_cifar(tmp / "cifar", "cifar10", train_per_class=4, test_per_class=1)
    init = tmp / "init.pt"
    torch.save(build_model("alexnet", num_classes=7).state_dict(), init)
    config = {"trainer": {"callbacks": [{"class_path": "tests.helpers.ddp.BatchProbe",
                                         "init_args": {"out_dir": str(tmp / "probe")}}]}}
    (tmp / "probe.yaml").write_text(yaml.safe_dump(config))
    result = run_cli(
        "fit", "--config", str(tmp / "probe.yaml"),
        "--data", "datamodules.cifar.CIFARDataModule", "--data.root", str(data), "--data.dataset", "cifar10",
        "--data.val_fraction", "0.2", "--data.batch_size", "4", "--data.augment", "false",
        "--model.freeze", "3", "--model.init_from", str(init),
        "--trainer.accelerator", "cpu", "--trainer.devices", str(WORLD), "--trainer.strategy", "ddp",
        "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(tmp / "runs"), "--trainer.logger.init_args.name", "ddp",
        cwd=None, env={"ORCHARD_CACHE": str(tmp / "cache")}, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (tmp / "stdout.txt").write_text(result.stdout)
    return tmp


def test_a_ddp_fit_with_frozen_blocks_trains_and_leaves_them_untouched(ddp_fit):
    run = ddp_fit / "runs" / "ddp" / "version_0"
    final = read_state_dict(run / "checkpoints" / "last.ckpt")
    init = torch.load(ddp_fit / "init.pt", weights_only=True)
    for key, value in init.items():
        if key.startswith(("features.conv1", "features.conv2", "features.conv3")):
            assert torch.equal(final[key], value), key  # weights and BatchNorm statistics
    assert not torch.equal(final["features.conv4.0.weight"], init["features.conv4.0.weight"])
    assert final["head.1.4.weight"].shape == (10, 512)  # new head for CIFAR-10's classes


def test_the_timer_reports_one_time_for_the_whole_fit(ddp_fit):
    stdout = (ddp_fit / "stdout.txt").read_text()
    assert stdout.count("fit done:") == 1  # rank 0 only
    timings = list((ddp_fit / "runs").rglob("timing.json"))
    assert len(timings) == 1
    timing = json.loads(timings[0].read_text())
    assert timing["world_size"] == WORLD and timing["epochs"] == 2 and len(timing["epoch_seconds"]) == 2
    steps = len([s for s in read_ranks(ddp_fit / "probe")[0]["epochs"][0] if s.startswith("step:")])
    assert timing["images"] == 2 * WORLD * steps * 4  # both ranks' images, summed once


def test_under_ddp_each_rank_trains_on_distinct_images_in_the_same_number_of_steps(ddp_fit):
    ranks = read_ranks(ddp_fit / "probe")
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == WORLD for r in ranks)
    for epoch in range(2):
        steps = [[s for s in r["epochs"][epoch] if s.startswith("step:")] for r in ranks]
        images = [[s for s in r["epochs"][epoch] if not s.startswith("step:")] for r in ranks]
        assert len(steps[0]) == len(steps[1]) == (40 - 10) // WORLD // 4  # 10 held out for validation, last batch dropped
        assert not set(images[0]) & set(images[1])
        assert len(set(images[0]) | set(images[1])) == len(images[0]) + len(images[1]) == WORLD * len(steps[0]) * 4


def test_the_epoch_training_loss_and_accuracy_are_over_every_rank_s_images(ddp_fit):
    import csv

    ranks = read_ranks(ddp_fit / "probe")
    rows = list(csv.DictReader(open(ddp_fit / "runs" / "ddp" / "version_0" / "metrics.csv")))
    logged = [float(r["train_loss_epoch"]) for r in rows if r.get("train_loss_epoch")]
    expected = [sum(loss * n for r in ranks for loss, n in r["losses"][e]) / sum(n for r in ranks for _, n in r["losses"][e])
                for e in range(2)]
    own = [sum(loss * n for loss, n in ranks[0]["losses"][e]) / sum(n for _, n in ranks[0]["losses"][e]) for e in range(2)]
    assert logged == pytest.approx(expected, rel=1e-5)
    assert logged != pytest.approx(own, rel=1e-5)  # not rank 0's images alone
    accuracy = [float(r["train_acc"]) for r in rows if r.get("train_acc")]
    seen = [sum(n for r in ranks for _, n in r["losses"][e]) for e in range(2)]
    assert accuracy == pytest.approx([sum(r["correct"][e] for r in ranks) / seen[e] for e in range(2)], abs=1e-6)
