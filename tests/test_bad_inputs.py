"""Every entry point of ``cli.py`` turns bad input into exactly one ``error:`` line and exit code 2, no traceback.

The table runs through ``cli.main`` — what ``python cli.py`` runs — case after case in ONE
subprocess (a fresh interpreter start per case would cost ~10 s each on a small CPU); the
driver records each case's exit code and everything it printed, and a case that raises is
recorded with its traceback. Cases fail before any training starts. A crash of the process
itself (a segmentation fault) is covered per command elsewhere (``test_tflite_check.py``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.export import lightning_style_checkpoint
from tests.conftest import REPO

CONFIG = str(REPO / "configs" / "scratch_fruits3.yaml")

DRIVER = r"""
import contextlib, io, json, sys, traceback
sys.path.insert(0, sys.argv[1])
import cli
results = []
for argv in json.loads(sys.argv[2]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = cli.main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 1
    results.append({"rc": rc, "output": out.getvalue()})
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_fruits) -> dict[str, Path]:
    """Bad inputs on disk: damaged and foreign checkpoints, a checkpoint of another class count, a text file
    posing as a model, a user's folder."""
    base = tmp_path_factory.mktemp("bad")
    good = lightning_style_checkpoint(base / "mobilenet_v2.ckpt", "mobilenet_v2", tiny_fruits)
    (base / "truncated.ckpt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (base / "text.ckpt").write_text("this is not a checkpoint\n")
    obj = torch.load(good, weights_only=True)  # the same network with a 13-way classifier
    head = [k for k in obj["state_dict"] if k.startswith("net.head.") and obj["state_dict"][k].ndim == 2][-1]
    bias = head.replace("weight", "bias")
    obj["state_dict"][head] = torch.zeros(13, obj["state_dict"][head].shape[1])
    obj["state_dict"][bias] = torch.zeros(13)
    obj["hyper_parameters"]["num_classes"] = 13
    torch.save(obj, base / "classes13.ckpt")
    (base / "text.tflite").write_text("not a model\n")
    (base / "user").mkdir()
    (base / "user" / "thesis.txt").write_text("mine\n")
    return {"base": base, "data": tiny_fruits, "ckpt": good}


def cases(f: dict[str, Path]) -> list[tuple[str, list[str], str]]:
    """(id, argv, what the error line must say)."""
    base, data = f["base"], str(f["data"])
    fit = ["fit", "--config", CONFIG, "--data.init_args.root", data, "--trainer.max_epochs", "1",
           "--trainer.logger.init_args.save_dir", str(base / "runs")]
    test = ["test", "--config", CONFIG, "--data.init_args.root", data,
            "--trainer.logger.init_args.save_dir", str(base / "runs")]
    return [
        ("unknown subcommand", ["bogus"], "unknown subcommand"),
        ("models --num-classes 0", ["models", "--num-classes", "0"], "--num-classes"),
        ("fit batch_size 0", [*fit, "--data.init_args.batch_size", "0"], "batch_size must be"),
        ("fit batch_size -5", [*fit, "--data.init_args.batch_size", "-5"], "batch_size must be"),
        ("fit lr -1", [*fit, "--model.lr", "-1"], "--model.lr must be"),
        ("fit max_epochs abc", [*fit, "--trainer.max_epochs", "abc"], 'Parser key "trainer.max_epochs"'),
        ("fit unknown flag", [*fit, "--no_such_flag", "1"], "unrecognized arguments"),
        ("fit missing config", ["fit", "--config", str(base / "nope.yaml")], "does not exist"),
        ("fit unknown arch", [*fit, "--model.arch", "nope"], "unknown architecture 'nope'"),
        ("fit missing data root", [*fit, "--data.init_args.root", str(base / "nowhere")], "does not exist"),
        ("fit init_from text", [*fit, "--model.init_from", str(base / "text.ckpt")], "not a readable PyTorch checkpoint"),
        ("test ckpt_path truncated", [*test, "--ckpt_path", str(base / "truncated.ckpt")], "not a readable PyTorch checkpoint"),
        ("test ckpt_path text", [*test, "--ckpt_path", str(base / "text.ckpt")], "not a readable PyTorch checkpoint"),
        ("test ckpt_path missing", [*test, "--ckpt_path", str(base / "missing.ckpt")], "does not exist"),
        ("test ckpt_path 13 classes", [*test, "--ckpt_path", str(base / "classes13.ckpt")], "trained for 13 classes"),
        ("validate ckpt_path text", ["validate", *test[1:], "--ckpt_path", str(base / "text.ckpt")], "not a readable"),
        ("predict ckpt_path missing", ["predict", *test[1:], "--ckpt_path", str(base / "missing.ckpt")], "does not exist"),
        ("export nothing", ["export"], "give --ckpt"),
        ("export ckpt text", ["export", "--ckpt", str(base / "text.ckpt"), "--out", str(base / "exp")], "not a readable"),
        ("export arch nope", ["export", "--arch", "nope", "--out", str(base / "exp")], "unknown architecture"),
        ("export into a user's folder", ["export", "--ckpt", str(f["ckpt"]), "--out", str(base / "user")], "thesis.txt"),
        ("benchmark latency text model", ["benchmark", "latency", str(base / "text.tflite"), "--out", str(base / "lat")],
         "not a TFLite model"),
        ("benchmark frameworks into a user's folder", ["benchmark", "frameworks", "--quick", "--out", str(base / "user")],
         "thesis.txt"),
        ("data synth --force on a user's folder", ["data", "synth", "--root", str(base / "user"), "--force"],
         "not a synthetic sample"),
        ("experiment transfer missing root", ["experiment", "transfer", "--fruits-root", str(base / "nowhere"),
                                              "--out", str(base / "study")], "nowhere"),
    ]


def test_every_bad_input_ends_in_one_error_line_and_exit_2(files):
    table = cases(files)
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(REPO), json.dumps([argv for _, argv, _ in table])],
                          cwd=files["base"], capture_output=True, text=True, timeout=900)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULTS ")), None)
    assert line is not None, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads(line[len("RESULTS "):])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    failures = []
    for (name, _, expected), result in zip(table, results):
        out = result["output"]
        errors = [x for x in out.splitlines() if "error:" in x]
        if result["rc"] != 2 or "Traceback" in out or len(errors) != 1 or expected not in errors[0]:
            failures.append(f"{name}: rc={result['rc']} errors={errors} tail={out[-600:]!r}")
    assert not failures, "\n".join(failures)
    assert (files["base"] / "user" / "thesis.txt").read_text() == "mine\n"  # refused, never deleted
    assert not list((files["base"] / "runs").rglob("version_*"))  # no empty run folders left behind
