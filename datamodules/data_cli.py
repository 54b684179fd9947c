"""``python cli.py data ...``: synthetic sample data and dataset downloads."""
from __future__ import annotations

import argparse

DEFAULT_SYNTH_ROOT = "data/fruits360-synthetic"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py data", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    synth = sub.add_parser("synth", help="write a procedurally generated Fruits-360-layout folder")
    synth.add_argument("--root", default=DEFAULT_SYNTH_ROOT, help="output folder (default: %(default)s)")
    synth.add_argument("--train-per-class", type=int, default=160)
    synth.add_argument("--test-per-class", type=int, default=50)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--force", action="store_true", help="replace an existing folder")
    download = sub.add_parser("download", help="download a dataset (needs the network)")
    download.add_argument("dataset", choices=["fruits360", "cifar100", "cifar10"])
    download.add_argument("--root", required=True, help="where to put it")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "synth":
        import shutil
        from pathlib import Path

        from .synthetic import make_synthetic_fruits

        root = Path(args.root)
        if root.exists():
            if not args.force:
                print(f"{root} exists; keeping it (use --force to regenerate)")
                return 0
            shutil.rmtree(root)
        make_synthetic_fruits(root, args.train_per_class, args.test_per_class, args.seed)
        print(f"wrote SYNTHETIC Fruits-360-layout data to {root}")
        return 0
    if args.dataset == "fruits360":
        from .download import download_fruits360

        print(f"Fruits-360 ready in {download_fruits360(args.root)}")
        return 0
    from .cifar import download_cifar  # noqa: the CIFAR module owns its downloader

    print(f"{args.dataset} ready in {download_cifar(args.dataset, args.root)}")
    return 0
