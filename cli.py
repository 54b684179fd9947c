"""orchard's command line: one tree, `python cli.py --help` lists every subcommand.

Training runs through Lightning's own CLI::

    python cli.py fit --config configs/scratch_fruits3.yaml [--trainer.max_epochs 5 ...]
    python cli.py test --config RUN/config.yaml --ckpt_path RUN/checkpoints/best.ckpt

and the studies' tools are subcommands beside it::

    python cli.py models [--num-classes N] [--json]
    python cli.py data synth|download ...
    python cli.py export ...
    python cli.py benchmark latency|training|frameworks|workers ...
    python cli.py experiment transfer|latency ...
    python cli.py demo

`python cli.py --verbose ...` (or ORCHARD_VERBOSE=1) also shows third-party output: library tips,
deprecation warnings, Lightning's model-summary tables.
"""
from __future__ import annotations

import argparse
import sys

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (imports only argument definitions: no torch, no Lightning)."""
    return _tree()[0]


def _tree() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The parser and its top-level subcommands."""
    from benchmarks.frameworks import command as frameworks_benchmark
    from benchmarks.latency import options as latency_benchmark
    from benchmarks.training import command as training_benchmark
    from benchmarks.workers import command as workers_benchmark
    from common.commands import add_group
    from datamodules import data_cli
    from experiments import cli as experiment_cli
    from experiments import demo
    from export import cli as export_cli
    from export import predict_images
    from lightning_modules import model_table

    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="show third-party output too (tips, deprecations, model tables); first, before the subcommand")
    parser.set_defaults(depth=1)  # the command words before a subcommand's own arguments
    sub = parser.add_subparsers(title="subcommands", dest="command", metavar="COMMAND")
    for name in LIGHTNING_SUBCOMMANDS:  # listed here, run by Lightning's own CLI (see main)
        sub.add_parser(name, help=f"Lightning's {name} (python cli.py {name} --help)", add_help=False)
    model_table.add_parser(sub)
    data_cli.add_parser(sub)
    export_cli.add_parser(sub)
    predict_images.add_parser(sub)
    bench = add_group(sub, "benchmark", "latency (TFLite/ONNX Runtime/PyTorch), training and framework benchmarks")
    latency_benchmark.add_parser(bench)
    training_benchmark.add_parser(bench)
    frameworks_benchmark.add_parser(bench)
    workers_benchmark.add_parser(bench)
    experiment_cli.add_parser(sub)
    demo.add_parser(sub)
    return parser, sub


def main(argv: list[str] | None = None) -> int:
    """Run one command line; bad input ends in one ``error:`` line and exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--verbose"]:
        from common.output import set_verbose

        set_verbose()
        argv = argv[1:]
    from common.allocator import tune_malloc
    from common.threads import apply_openmp_defaults

    apply_openmp_defaults()  # before anything imports torch (see common/threads.py)
    tune_malloc()  # activations reuse freed memory instead of page-faulting it in (see common/allocator.py)
    from common.errors import run_guarded

    if argv[:1] and argv[0] in LIGHTNING_SUBCOMMANDS:
        from lightning_modules.lightning_cli import run_lightning_cli

        return run_guarded(lambda: run_lightning_cli(argv))
    parser, sub = _tree()
    if not argv:
        parser.print_help()
        return 2
    if not argv[0].startswith("-") and argv[0] not in sub.choices:
        print(f"error: unknown subcommand {argv[0]!r}; choose one of: {', '.join(sub.choices)}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "main", None) is None:
        parser.print_help()
        return 2
    args.argv = argv[args.depth:]
    return run_guarded(lambda: args.main(args))


if __name__ == "__main__":
    sys.exit(main())
