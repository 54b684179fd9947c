"""``python cli.py export``: a checkpoint (or an architecture with fresh weights) -> ONNX -> TFLite.

    python cli.py export --ckpt runs/fruits3_scratch/version_0/checkpoints/best.ckpt --out runs/export/alexnet
    python cli.py export --arch mobilenet_v2 --out runs/export/mobilenet_v2 --data-root data/fruits360-synthetic

Writes ``model.onnx``, ``model_float32.tflite``, ``model_float16.tflite``, one quantised model
(``model_int8.tflite``, else the fallback that passed its gate: ``model_int16act.tflite`` or
``model_dynamic.tflite``), ``labels.txt`` and ``export.json`` into ``--out``. Every model is judged
on every real image of the data (top-1 agreement with PyTorch) and on its test split (accuracy).
A broken float32/float16 bridge writes nothing; a quantised model that misses its gate on every
rung of the ladder leaves the float models and the reason in ``export.json`` (exit 0, or 2 with
``--require int8``).
"""
from __future__ import annotations

import argparse
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lightning_modules.architectures import list_models

from .data import DEFAULT_CALIBRATION_IMAGES, DEFAULT_DATA_ROOT
from .tflite_convert import PRECISIONS


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Within the block SIGTERM raises ``KeyboardInterrupt``, so ``finally`` blocks run (the onnx2tf
    worker is killed, temporary folders are removed) as they do on Ctrl-C."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    data.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES,
                      help="seeded training images the quantised models are calibrated on")
    data.add_argument("--max-images", type=int, default=None,
                      help="judge on at most this many images (default: every image the data has)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--require", choices=["int8"], default=None,
                        help="exit 2 when no quantised model passes its gate (the float models are still written)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


EXIT_INTERRUPTED = 130


def main(argv: list[str]) -> int:
    try:
        with interrupt_on_sigterm():
            return _main(argv)
    except KeyboardInterrupt:
        print("interrupted: the export folder was not written; temporary files and the onnx2tf process are gone",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from common.errors import OrchardError

    from .pipeline import export_from_source, print_summary, resolve_source

    if not args.ckpt and not args.arch:
        raise OrchardError("give --ckpt PATH (a checkpoint from `python cli.py fit`) or --arch NAME")
    source = resolve_source(args.ckpt, args.arch, args.num_classes, args.seed)
    out = Path(args.out or f"runs/export/{source.arch}")
    grouping = None if args.grouping == "none" else args.grouping
    if args.calibration_images < 1 or (args.max_images is not None and args.max_images < 1):
        raise OrchardError("--calibration-images and --max-images must be positive")
    report = export_from_source(source, out, data_root=args.data_root, grouping=grouping, per_class=args.per_class,
                                calibration=args.calibration_images, test=args.max_images,
                                precisions=tuple(args.precisions), seed=args.seed)
    print_summary(report, out)
    if args.require == "int8" and "int8" in args.precisions and report["quantization"]["deliverable"] is None:
        raise OrchardError(f"{report['quantization']['reason']} (--require int8; the float models are in {out})")
    return 0
