"""``benchmark frameworks``: its building blocks, bad input, and one real ``--quick`` run end to end."""
import json
import math

import numpy as np
import pytest
import torch

from benchmarks.frameworks.command import main as frameworks_main
from benchmarks.frameworks.command import build_parser, check_args, rotated
from benchmarks.frameworks.data import ArrayDataModule, DataSpec, load_arrays, write_arrays, write_initial_weights
from benchmarks.frameworks.flops import forward_flops
from benchmarks.frameworks.report import paired_ratios, spread, steady_state
from benchmarks.frameworks.torch_loop import train_plain
from common.errors import OrchardError
from lightning_modules.architectures import build_model
from lightning_modules.classifier import ImageClassifier
from lightning_modules.optimizers import build_optimizer
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def work(tiny_fruits, tmp_path_factory):
    work = tmp_path_factory.mktemp("frameworks_work")
    summary = write_arrays(DataSpec(str(tiny_fruits), per_class=40), work)
    write_initial_weights("alexnet", len(summary["classes"]), 0, work)
    return work


def test_every_repeat_rotates_the_order():
    kinds = ("lightning", "pytorch", "keras")
    orders = [rotated(kinds, r) for r in range(3)]
    assert orders[0] == list(kinds) and orders[1] == ["pytorch", "keras", "lightning"]
    assert all(sorted(o[i] for o in orders) == sorted(kinds) for i in range(3))  # every kind takes every slot


def test_ratios_are_paired_by_repeat_with_min_median_max():
    r = paired_ratios([300.0, 200.0, 400.0], [100.0, 200.0, 100.0])
    assert r["values"] == [3.0, 1.0, 4.0] and (r["min"], r["median"], r["max"]) == (1.0, 3.0, 4.0)
    assert spread([]) == {"min": None, "median": None, "max": None, "values": []}


def test_steady_state_leaves_the_first_epoch_out():
    s = steady_state({"epoch_seconds": [5.0, 2.0, 2.2, 1.8], "images": 400, "epochs": 4, "images_per_second": 36.4})
    assert s["steady_epoch_seconds"] == 2.0 and s["steady_images_per_second"] == 50.0
    assert s["first_epoch_overhead_seconds"] == 3.0


def test_flops_of_alexnet_by_hand():
    convs = [(48 * 48 * 16, 5 * 5 * 3), (22 * 22 * 32, 3 * 3 * 16), (9 * 9 * 64, 3 * 3 * 32), (7 * 7 * 128, 3 * 3 * 64)]
    dense = 1152 * 512 + 512 * 512 + 512 * 3
    flops = forward_flops(build_model("alexnet", 3))
    assert flops["forward"] == 2 * (sum(a * b for a, b in convs) + dense)


def test_saved_arrays_are_the_datamodules_images(work, tiny_fruits):
    from datamodules import Fruits360DataModule

    reference = Fruits360DataModule(str(tiny_fruits), grouping="apple_pear_noise", per_class=40)
    reference.setup()
    saved = ArrayDataModule(str(work), batch_size=8)
    saved.setup()
    assert saved.class_names == reference.class_names
    for split in ("train", "val", "test"):
        assert torch.equal(saved.splits[split][0], reference.splits[split][0])
        assert torch.equal(saved.splits[split][1], reference.splits[split][1])
    assert load_arrays(work)["train_images"].dtype == np.uint8


def test_the_plain_loops_optimizer_is_the_classifiers_optimizer():
    for name in ("adam", "adamw", "sgd"):
        module = ImageClassifier("alexnet", 3, optimizer=name, lr=0.01, weight_decay=1e-4)
        theirs = module.configure_optimizers()
        ours = build_optimizer(list(module.net.parameters()), name, 0.01, 1e-4)
        assert type(ours) is type(theirs)
        strip = lambda g: {k: v for k, v in g.items() if k != "params"}  # noqa: E731
        assert strip(ours.param_groups[0]) == strip(theirs.param_groups[0])
        assert theirs.defaults["fused"] is True  # one kernel per tensor on CPU


def test_plain_loop_trains_and_times_like_the_timer(work):
    data = ArrayDataModule(str(work), batch_size=16)
    data.setup()
    net = build_model("alexnet", data.num_classes).to(memory_format=torch.channels_last)
    before = [p.detach().clone() for p in net.parameters()]
    seen_orders = []
    result = train_plain(net, data, build_optimizer(net.parameters()), epochs=2,
                         on_epoch_start=lambda e: seen_orders.append(data.batches("train", True).order(e)))
    n_train = data.splits["train"][0].shape[0]
    assert result["epochs"] == 2 and len(result["epoch_seconds"]) == 2
    assert result["images"] == 2 * (n_train // 16) * 16  # drop_last, as the datamodule does
    assert result["images_per_second"] == pytest.approx(result["images"] / sum(result["epoch_seconds"]))
    assert len(result["val_acc"]) == 2 and 0.0 <= result["val_acc"][-1] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert not torch.equal(seen_orders[0], seen_orders[1])  # reshuffled per epoch


def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path):
    proc = run_cli("benchmark", "frameworks", "--quick", "--arch", "resnet", "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "unknown architecture 'resnet'" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,message", [
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--data-root", "/nonexistent/fruits"], "data root /nonexistent/fruits does not exist"),
])
def test_bad_options_are_refused_before_any_measurement(args, message, tmp_path):
    with pytest.raises(OrchardError, match=message):
        frameworks_main(["--quick", "--out", str(tmp_path / "out"), *args])
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OrchardError, match="is a file"):
        frameworks_main(["--quick", "--out", str(tmp_path / "taken")])


@pytest.mark.slow
def test_quick_run_writes_results_report_and_chart(tmp_path):
    out = tmp_path / "frameworks"
    proc = run_cli("benchmark", "frameworks", "--quick", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    for name in ("lightning_over_keras", "lightning_over_pytorch", "bridge_tflite_over_keras_tflite"):
        ratio = results["ratios"][name]
        assert {"min", "median", "max"} <= set(ratio)
    for name in ("lightning_over_keras", "lightning_over_pytorch"):
        ratio = results["ratios"][name]
        assert 0 < ratio["min"] <= ratio["median"] <= ratio["max"] < math.inf
    for kind in ("lightning", "pytorch", "keras"):
        stats = results["training"][kind]
        assert stats["training_images_per_second"]["median"] > 0
        assert stats["peak_rss_mb"]["median"] > 100 and stats["startup_seconds"]["median"] > 0
        assert set(stats["inference_images_per_second"]) == {"1", "64"}
    assert results["runs"]["lightning"][0]["trainer"]["logger"] == "CSVLogger"  # the user's Trainer, logging on
    assert results["schedule"][:3] == ["lightning", "pytorch", "keras"]
    tflite = results["tflite"]
    if tflite["available"]:
        assert results["ratios"]["bridge_tflite_over_keras_tflite"]["median"] > 0
        assert tflite["agreement"]["bridge_vs_keras_native"]["max_abs_diff"] < 1e-3
        assert tflite["bridge"]["op_count"] > 0 and tflite["keras_native"]["op_count"] > 0
    report = (out / "report.md").read_text()
    assert "lightning_over_keras" in report and "SYNTHETIC" in report
    assert (out / "frameworks.png").read_bytes()[:4] == b"\x89PNG"


def test_an_output_folder_holding_a_users_file_is_refused_before_any_measurement(tmp_path):
    out = tmp_path / "frameworks"
    out.mkdir()
    (out / "results.json").write_text("{}")  # an earlier run's output: ours
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OrchardError, match="notes.txt.*--overwrite"):
        frameworks_main(["--quick", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json"]  # nothing touched
    args = build_parser().parse_args(["--quick", "--out", str(out), "--overwrite"])
    check_args(args)  # --overwrite lets it through
    (out / "notes.txt").unlink()
    check_args(build_parser().parse_args(["--out", str(out)]))  # only our own outputs: replaceable


def test_training_flops_leave_out_the_first_layers_input_gradient():
    flops = forward_flops(build_model("alexnet", 3))
    assert flops["training"] == 3 * flops["forward"] - 2 * 48 * 48 * 16 * 5 * 5 * 3


def test_share_of_peak_is_paired_with_each_repeats_own_peak():
    from benchmarks.frameworks.command import limits

    per_image = forward_flops(build_model("alexnet", 3))["training"]

    def run(images_per_second: float) -> dict:  # three epochs of 640 images; the first one slower
        return {"epoch_seconds": [2.0, 640 / images_per_second, 640 / images_per_second], "images": 1920, "epochs": 3,
                "images_per_second": 1.0}

    peaks = [{"matmul_gflops": 100.0, "matmul_gflops_best": 200.0, "matmul_gflops_bf16": 180.0},
             {"matmul_gflops": 50.0, "matmul_gflops_best": 80.0, "matmul_gflops_bf16": 90.0}]
    ips = [40e9 / per_image, 20e9 / per_image]  # 40 % of each repeat's peak, though the machine halved its speed
    lim = limits("alexnet", 3, peaks, {"lightning": [run(i) for i in ips]})
    assert lim["fraction_of_peak"]["lightning"] == pytest.approx(0.4)
    assert lim["fraction_of_peak_per_repeat"]["lightning"]["values"] == pytest.approx([0.4, 0.4])
    assert lim["fraction_of_best_peak"]["lightning"] == pytest.approx((0.2 + 0.25) / 2)
    assert lim["matmul_gflops"] == 75.0 and lim["matmul_gflops_best"] == 140.0 and lim["matmul_gflops_bf16"] == 135.0


def test_the_peak_is_sampled_once_per_turn():
    from benchmarks.frameworks.worker import sample_peak

    turns, speeds = [], iter([10.0, 30.0, 20.0, 99.0])

    def fake(seconds: float, dtype: str = "float32") -> dict:
        sustained = next(speeds)
        return {"sustained": sustained, "best": 2 * sustained}

    result = sample_peak(fake, {"seconds": 0.1, "rounds": 3}, turns.append)
    assert turns == [0, 1, 2]  # waits for its turn before every sample but the first (Turns.between_epochs)
    assert [s["sustained"] for s in result["matmul_gflops_samples"]] == [10.0, 30.0, 20.0]
    assert result["matmul_gflops"] == 20.0 and result["matmul_gflops_best"] == 40.0
    assert result["matmul_gflops_bf16"] == 99.0 and result["matmul_gflops_bf16_best"] == 198.0


def test_the_sustained_peak_counts_every_product_and_the_best_one_the_fastest():
    from benchmarks.frameworks.worker import matmul_gflops

    peak = matmul_gflops(n=128, seconds=0.05)
    assert 0 < peak["sustained"] <= peak["best"]
