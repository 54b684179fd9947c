"""``python cli.py export``: a checkpoint (or an architecture with fresh weights) -> ONNX -> TFLite.

    python cli.py export --ckpt runs/fruits3_scratch/version_0/checkpoints/best.ckpt --out runs/export/alexnet
    python cli.py export --arch mobilenet_v2 --out runs/export/mobilenet_v2 --data-root data/fruits360-synthetic

Writes ``model.onnx``, ``model_float32.tflite``, ``model_float16.tflite``, ``model_int8.tflite``
and ``export.json`` into ``--out``, only when every parity check passes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lightning_modules.architectures import list_models

from .data import DEFAULT_DATA_ROOT
from .tflite_convert import PRECISIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_argument_group("model (one of --ckpt / --arch, or both to check the checkpoint's architecture)")
    src.add_argument("--ckpt", help="Lightning checkpoint from `python cli.py fit` (arch and classes from its hyper-parameters)")
    src.add_argument("--arch", help=f"architecture: {', '.join(list_models())} (fresh, seeded weights without --ckpt)")
    src.add_argument("--num-classes", type=int, default=None, help="classes for fresh weights (default: the data's)")
    parser.add_argument("--out", default=None, help="export folder (default: runs/export/<arch>)")
    data = parser.add_argument_group("real images for calibration and parity (with --ckpt and no --data-root: "
                                     "the checkpoint's own datamodule)")
    data.add_argument("--data-root", default=None,
                      help=f"Fruits-360 folder (default: the checkpoint's datamodule, else {DEFAULT_DATA_ROOT})")
    data.add_argument("--grouping", default="apple_pear_noise", choices=["apple_pear_noise", "none"])
    data.add_argument("--per-class", type=int, default=400, help="images per label cap (60 for fruits360-mini)")
    data.add_argument("--calibration-images", type=int, default=100, help="training images int8 is calibrated on")
    data.add_argument("--test-images", type=int, default=200, help="test images the parity checks run on")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from common.errors import OrchardError

    from .pipeline import export_from_source, print_summary, resolve_source

    if not args.ckpt and not args.arch:
        raise OrchardError("give --ckpt PATH (a checkpoint from `python cli.py fit`) or --arch NAME")
    source = resolve_source(args.ckpt, args.arch, args.num_classes, args.seed)
    out = Path(args.out or f"runs/export/{source.arch}")
    grouping = None if args.grouping == "none" else args.grouping
    report = export_from_source(source, out, data_root=args.data_root, grouping=grouping, per_class=args.per_class,
                                calibration=args.calibration_images, test=args.test_images,
                                precisions=tuple(args.precisions), seed=args.seed)
    print_summary(report, out)
    return 0
