"""``python cli.py data ...``: synthetic sample data and dataset downloads."""
from __future__ import annotations

import argparse

DEFAULT_SYNTH_ROOT = "data/fruits360-synthetic"
DEFAULT_CIFAR_SYNTH_ROOT = "data/cifar-synthetic"
# dataset -> (default root, train images per class, test images per class)
SYNTH_DEFAULTS = {"fruits360": (DEFAULT_SYNTH_ROOT, 160, 50), "cifar100": (DEFAULT_CIFAR_SYNTH_ROOT, 50, 10),
                  "cifar10": ("data/cifar10-synthetic", 200, 40)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py data", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    synth = sub.add_parser("synth", help="write a procedurally generated Fruits-360- or CIFAR-layout folder")
    synth.add_argument("dataset", nargs="?", choices=list(SYNTH_DEFAULTS), default="fruits360",
                       help="which layout (default: %(default)s; cifar100: 100 classes of 32x32)")
    synth.add_argument("--root", default=None, help=f"output folder (default: {DEFAULT_SYNTH_ROOT}, "
                       f"{DEFAULT_CIFAR_SYNTH_ROOT} for cifar100)")
    synth.add_argument("--train-per-class", type=int, default=None, help="default: 160 (fruits360), 50 (cifar100)")
    synth.add_argument("--test-per-class", type=int, default=None, help="default: 50 (fruits360), 10 (cifar100)")
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
        from .synthetic_cifar import make_synthetic_cifar

        default_root, train_per_class, test_per_class = SYNTH_DEFAULTS[args.dataset]
        root = Path(args.root or default_root)
        train_per_class = args.train_per_class or train_per_class
        test_per_class = args.test_per_class or test_per_class
        if root.exists():
            if not args.force:
                print(f"{root} exists; keeping it (use --force to regenerate)")
                return 0
            shutil.rmtree(root)
        if args.dataset != "fruits360":
            make_synthetic_cifar(root, args.dataset, train_per_class, test_per_class, args.seed)
            print(f"wrote SYNTHETIC {args.dataset}-layout data to {root}")
            return 0
        make_synthetic_fruits(root, train_per_class, test_per_class, args.seed)
        print(f"wrote SYNTHETIC Fruits-360-layout data to {root}")
        return 0
    if args.dataset == "fruits360":
        from .download import download_fruits360

        print(f"Fruits-360 ready in {download_fruits360(args.root)}")
        return 0
    from .cifar import download_cifar  # noqa: the CIFAR module owns its downloader

    print(f"{args.dataset} ready in {download_cifar(args.dataset, args.root)}")
    return 0
