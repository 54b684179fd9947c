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
from typing import Any, Iterator

from common.commands import add_command, standalone_parser

from .names import DEFAULT_CALIBRATION_IMAGES, DEFAULT_DATA_ROOT, PRECISIONS


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


HELP = "checkpoint or architecture -> ONNX -> TFLite, with parity checks"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``export`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "export", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """``export``'s parser on its own (``main`` given an argument list)."""
    return standalone_parser("cli.py export", __doc__, add_arguments)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The export's options (argument definitions only: no torch)."""
    src = parser.add_argument_group("model (one of --ckpt / --arch, or both to check the checkpoint's architecture)")
    src.add_argument("--ckpt", help="Lightning checkpoint from `python cli.py fit` (arch and classes from its hyper-parameters)")
    src.add_argument("--arch", help="architecture (`python cli.py models` lists them; fresh, seeded weights without --ckpt)")
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


EXIT_INTERRUPTED = 130


def main(args: argparse.Namespace | list[str]) -> int:
    """Export from parsed options (or an argument list, parsed here); 130 when interrupted."""
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    try:
        with interrupt_on_sigterm():
            return _main(args)
    except KeyboardInterrupt:
        print("interrupted: the export folder was not written; temporary files and the onnx2tf process are gone",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args: argparse.Namespace) -> int:
    from common.errors import OrchardError

    from .source import export_from_source, resolve_source

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


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:6.1%}"


def print_summary(report: dict, out: str | Path, stream=None) -> None:
    """What was written and how each model was judged: sizes, accuracy, agreement, logit error, GPU verdict."""
    from .bridge import JUDGED_ON

    stream = stream or sys.stdout
    arch = report.get("extra", {}).get("arch", report["model"]["class"])
    acc = report["pytorch"]["test_accuracy"]
    parity = report["parity"]
    say = lambda line="": print(line, file=stream)  # noqa: E731
    say(f"exported {arch} ({report['model']['params']:,} params) to {out} in {report['seconds']['total']:.1f} s"
        + (f"; PyTorch test accuracy {acc:.1%} on {report['pytorch']['test_images']} test images" if acc is not None else ""))
    if report["judged_on"] == JUDGED_ON[True]:
        say("  fresh (untrained) weights, for latency work only: the quantised model is judged on output closeness "
            "(logit cosine similarity), not top-1 agreement")
    say(f"  judged on {parity['images']} real images ({', '.join(f'{k} {v}' for k, v in parity['sources'].items())}); "
        f"calibrated on {report['calibration']['images']} training images")
    o = report["onnx"]
    say(f"  {'file':<22} {'MB':>7}  {'test acc':>8} {'agree':>7} {'max|dlogit|':>11} {'cos min':>8}  GPU delegate")
    say(f"  {o['file']:<22} {o['bytes'] / 1e6:7.3f}  {'':>8} {_pct(o['top1_agreement']):>7} {o['max_abs_diff']:11.2e}"
        f" {o['cosine_min']:8.5f}  (ONNX Runtime, {parity['onnx_images']} images)")
    rows = dict(report["tflite"])
    for attempt in report["quantization"]["attempts"]:
        if not attempt["passed"]:
            rows[f"rejected {attempt['variant']}"] = attempt
    for e in rows.values():
        verdict = _gpu_text(e["gpu_delegate"]) if "gpu_delegate" in e else "(rejected, deleted)"
        if "top1_agreement" not in e:  # an attempt the interpreter could not run
            say(f"  {e['file']:<22} {e['bytes'] / 1e6:7.3f}  {'':>8} {'':>7} {'':>11} {'':>8}  {verdict}: {e['failures'][0]}")
            continue
        say(f"  {e['file']:<22} {e['bytes'] / 1e6:7.3f}  {_pct(e.get('test_accuracy')):>8} {_pct(e['top1_agreement']):>7}"
            f" {e['max_abs_diff']:11.2e} {e['cosine_min']:8.5f}  {verdict}")
    q = report["quantization"]
    if q["deliverable"]:
        say(f"  quantised deliverable: {report['tflite']['int8']['file']} ({q['deliverable']}); "
            f"gate: {_gate_text(q)}")
    elif q["attempts"]:
        say(f"  no quantised model: {q['reason']}")
    say(f"  labels.txt: {', '.join(report['labels'])}")


def _gpu_text(verdict: dict) -> str:
    if verdict["compatible"] is None:
        return "no verdict"
    if verdict["compatible"]:
        return "compatible"
    ops = sorted({f["op"] for f in verdict["flagged_ops"]})
    return "flags " + ", ".join(ops) if ops else "incompatible"


def _gate_text(q: dict) -> str:
    g = q["gate"]
    if "min_cosine" in g:
        return f"logit cosine similarity >= {g['min_cosine']:g}"
    return f"agreement >= {g['min_agreement']:.0%} and test accuracy >= float32's - {g['max_accuracy_drop'] * 100:g} point(s)"
