"""cli.py's one command tree: every subcommand in one --help, built without torch, one error line."""
import subprocess
import sys

import cli
from tests.conftest import REPO

SUBCOMMANDS = ("fit", "validate", "test", "predict", "models", "data", "export", "predict-images", "benchmark",
               "experiment", "demo")


def test_one_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n    {name}" in out for name in SUBCOMMANDS) and "--verbose" in out


def test_the_tree_is_built_without_torch_or_lightning():
    code = "import sys, cli; cli.build_parser(); print(sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_nested_help_and_bad_subcommands(capsys):
    assert cli.main(["experiment", "transfer", "--help"]) == 0
    assert "--fruits-root" in capsys.readouterr().out
    assert cli.main(["experiment", "nope"]) == 2
    assert cli.main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: unknown subcommand 'bogus'; choose one of: {', '.join(SUBCOMMANDS)}"]
