"""One fit across two "nodes" on this machine: ``torchrun --nnodes 2`` starts ``python cli.py fit`` once per node
(``--trainer.num_nodes 2 --trainer.devices 1``, gloo on CPU), as a cluster scheduler would on two hosts."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

NODES = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_node_fit(tiny_fruits, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("multinode")
    config = {"trainer": {"callbacks": [{"class_path": "tests.helpers.multinode.RankReport",
                                         "init_args": {"out_dir": str(tmp / "ranks")}}]}}
    (tmp / "probe.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    (tmp / "tmp").mkdir()  # torchrun's own temporary folders go here, not into the machine's /tmp
    env = {**os.environ, "ORCHARD_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp / "tmp")}
    nodes = []
    for node_rank in range(NODES):
        command = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={NODES}", "--nproc_per_node=1",
                   f"--node_rank={node_rank}", "--master_addr=127.0.0.1", f"--master_port={port}",
                   str(REPO / "cli.py"), "fit", "--config", str(tmp / "probe.yaml"),
                   "--data", "datamodules.Fruits360DataModule", "--data.root", str(tiny_fruits),
                   "--data.per_class", "16", "--data.batch_size", "4", "--data.augment", "false",
                   "--model.arch", "mobilenet_v2", "--seed_everything", "0",
                   "--trainer.accelerator", "cpu", "--trainer.num_nodes", str(NODES), "--trainer.devices", "1",
                   "--trainer.strategy", "ddp", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
                   "--trainer.logger.init_args.save_dir", str(tmp / "runs"), "--trainer.logger.init_args.name", "two-nodes"]
        nodes.append(subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [node.communicate(timeout=400)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    return tmp


@pytest.mark.slow
def test_each_node_trains_its_own_shard_into_one_model(two_node_fit):
    ranks = [json.loads((two_node_fit / "ranks" / f"rank{r}.json").read_text()) for r in range(NODES)]
    assert [(r["global_rank"], r["node_rank"], r["local_rank"]) for r in ranks] == [(0, 0, 0), (1, 1, 0)]
    assert all(r["world_size"] == NODES and r["num_nodes"] == NODES for r in ranks)
    first, second = (set(r["images"]) for r in ranks)
    assert first and second and not first & second  # distinct shards
    assert len(ranks[0]["images"]) == len(ranks[1]["images"])  # in step
    assert ranks[0]["weights"] == ranks[1]["weights"]  # gradients averaged: one model


@pytest.mark.slow
def test_the_two_node_fit_writes_one_run_folder_and_one_timing(two_node_fit):
    runs = list((two_node_fit / "runs" / "two-nodes").iterdir())
    assert len(runs) == 1
    timing = json.loads((runs[0] / "timing.json").read_text())
    assert timing["world_size"] == NODES
    assert len(list(runs[0].glob("checkpoints/*.ckpt"))) >= 1
