"""orchard's command line.

Training runs through Lightning's own CLI::

    python cli.py fit --config configs/scratch_fruits3.yaml [--trainer.max_epochs 5 ...]
    python cli.py test --config RUN/config.yaml --ckpt_path RUN/checkpoints/best.ckpt

and the studies' tools are subcommands beside it::

    python cli.py models [--num-classes N] [--json]
    python cli.py data synth|download ...
    python cli.py export ...
    python cli.py benchmark latency|frameworks ...
    python cli.py experiment transfer|latency ...
"""
from __future__ import annotations

import importlib
import sys

LIGHTNING_SUBCOMMANDS = {"fit", "validate", "test", "predict"}
# subcommand -> (module, help); every module exposes ``main(argv) -> int``.
TOOLS = {
    "models": ("lightning_modules.model_table", "list the architectures with parameter counts"),
    "data": ("datamodules.data_cli", "make synthetic sample data or download the datasets"),
    "export": ("export.cli", "checkpoint or architecture -> ONNX -> TFLite, with parity checks"),
    "predict-images": ("export.predict_images", "classify JPEG/PNG photos with a .tflite or a checkpoint -> CSV"),
    "benchmark": ("benchmarks.cli", "latency (TFLite/ONNX Runtime/PyTorch) and framework benchmarks"),
    "experiment": ("experiments.cli", "rerun a whole study: transfer | latency"),
}


def usage() -> str:
    lines = [__doc__.strip(), "", "subcommands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in TOOLS.items()]
    lines += [f"  {name:<14} Lightning's {name} (see `python cli.py {name} --help`)" for name in sorted(LIGHTNING_SUBCOMMANDS)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--verbose"]:  # third-party output (tips, deprecations, model tables) shown
        from common.output import set_verbose

        set_verbose()
        argv = argv[1:]
    from common.allocator import tune_malloc
    from common.threads import apply_openmp_defaults

    apply_openmp_defaults()  # before anything imports torch (see common/threads.py)
    tune_malloc()  # activations reuse freed memory instead of page-faulting it in (see common/allocator.py)
    from common.errors import run_guarded

    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_SUBCOMMANDS:
        from lightning_modules.lightning_cli import run_lightning_cli

        return run_guarded(lambda: run_lightning_cli(argv))
    if command not in TOOLS:
        print(f"error: unknown subcommand {command!r}; choose one of: "
              f"{', '.join([*TOOLS, *sorted(LIGHTNING_SUBCOMMANDS)])}", file=sys.stderr)
        return 2
    module = importlib.import_module(TOOLS[command][0])
    return run_guarded(lambda: module.main(rest))


if __name__ == "__main__":
    sys.exit(main())
