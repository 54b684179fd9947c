"""``python cli.py data ...``: synthetic sample data and dataset downloads."""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from common.atomic import check_out_dir
from common.errors import OutputFolderError

SYNTHETIC_MARKER = "SYNTHETIC"  # the file that marks a synthetic sample (the datamodules read the same name)
HELP = "make synthetic sample data or download the datasets"

DEFAULT_SYNTH_ROOT = "data/fruits360-synthetic"
DEFAULT_CIFAR_SYNTH_ROOT = "data/cifar-synthetic"
# dataset -> (default root, train images per class, test images per class)
SYNTH_DEFAULTS = {"fruits360": (DEFAULT_SYNTH_ROOT, 160, 50), "cifar100": (DEFAULT_CIFAR_SYNTH_ROOT, 50, 10),
                  "cifar10": ("data/cifar10-synthetic", 200, 40)}
# what a synthetic sample holds: the marker, Fruits-360's two splits, or CIFAR's one folder
SYNTHETIC_ENTRIES = (SYNTHETIC_MARKER, "Training", "Test", "cifar-10-batches-py", "cifar-100-python")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``data`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    parser = subparsers.add_parser("data", help=HELP, description=__doc__)
    add_arguments(parser)
    parser.set_defaults(main=main)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """``data``'s parser on its own (``main`` given an argument list)."""
    parser = argparse.ArgumentParser(prog="cli.py data", description=__doc__)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``synth`` and ``download`` with their options."""
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
    download.add_argument("--sha256", default=None,
                          help="the archive's expected SHA-256, checked before unpacking (Fruits-360 comes from a "
                               "branch snapshot with no fixed checksum; CIFAR is always checked against its MD5)")


def replace_synthetic(root: Path, make: Callable[[Path], Path]) -> Path:
    """``make(root)``; an existing ``root`` is replaced only if it is a synthetic sample and holds nothing else.

    The old sample stays in place until the new one is complete (a failure puts it back).

    Raises:
        OutputFolderError: ``root`` is a file, has no ``SYNTHETIC`` marker (a real dataset or a
            user's folder), or holds files ``data synth`` did not write.
    """
    if not root.exists():
        return make(root)
    if not (root / SYNTHETIC_MARKER).is_file():
        raise OutputFolderError(f"{root} is not a synthetic sample (no {SYNTHETIC_MARKER} file in it); --force replaces "
                                "only folders written by `data synth`: choose another --root")
    check_out_dir(root, own=SYNTHETIC_ENTRIES)
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    os.replace(root, old)
    try:
        make(root)
    except BaseException:
        os.replace(old, root)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return root


def main(args: argparse.Namespace | list[str]) -> int:
    """Write a synthetic sample or download a dataset (``args`` parsed, or an argument list)."""
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    if args.action == "synth":
        from .synthetic import make_synthetic_fruits
        from .synthetic_cifar import make_synthetic_cifar

        default_root, train_per_class, test_per_class = SYNTH_DEFAULTS[args.dataset]
        root = Path(args.root or default_root)
        train_per_class = args.train_per_class or train_per_class
        test_per_class = args.test_per_class or test_per_class
        if root.exists() and not args.force:
            print(f"{root} exists; keeping it (use --force to regenerate)")
            return 0
        if args.dataset != "fruits360":
            def make(folder: Path) -> Path:
                return make_synthetic_cifar(folder, args.dataset, train_per_class, test_per_class, args.seed)
        else:
            def make(folder: Path) -> Path:
                return make_synthetic_fruits(folder, train_per_class, test_per_class, args.seed)
        replace_synthetic(root, make)
        layout = "Fruits-360" if args.dataset == "fruits360" else args.dataset
        print(f"wrote SYNTHETIC {layout}-layout data to {root}")
        return 0
    if args.dataset == "fruits360":
        from .download import download_fruits360

        folder = download_fruits360(args.root, sha256=args.sha256)
    else:
        from .cifar import download_cifar  # noqa: the CIFAR module owns its downloader

        folder = download_cifar(args.dataset, args.root, sha256=args.sha256)
    record = folder / "DOWNLOAD.json"
    digest = f" (archive sha256 {json.loads(record.read_text())['sha256']})" if record.is_file() else ""
    print(f"{args.dataset} ready in {folder}{digest}")
    return 0
