"""Glue shared by ``cli.py export``, the latency benchmark and the latency experiment."""
from __future__ import annotations

import sys
from pathlib import Path

from datamodules.in_memory import InMemoryImageDataModule

from .bridge import JUDGED_ON, export_model
from .data import DEFAULT_CALIBRATION_IMAGES, DEFAULT_DATA_ROOT, datamodule_from_hparams, describe_data, fruits360
from .errors import ExportError
from .evaluation import EvalSet, eval_set, uncapped
from .model_source import ModelSource, fresh_model, load_checkpoint_model
from .parity import ParityThresholds
from .tflite_convert import PRECISIONS


def resolve_source(ckpt: str | None, arch: str | None, num_classes: int | None = None, seed: int = 0) -> ModelSource:
    """The checkpoint's network (checked against ``arch``) or ``arch`` with fresh weights."""
    if ckpt:
        return load_checkpoint_model(ckpt, arch, num_classes)
    if not arch:
        raise ExportError("give a checkpoint or an architecture name")
    return fresh_model(arch, num_classes or 3, seed)


def build_datamodule(source: ModelSource | None = None, data_root: str | Path | None = None,
                     grouping: str | None = "apple_pear_noise", per_class: int | None = 400,
                     seed: int = 0) -> InMemoryImageDataModule:
    """The checkpoint's own datamodule when no root is given, else Fruits-360 at ``data_root``."""
    if data_root is None and source is not None and source.datamodule:
        return datamodule_from_hparams(source.datamodule)
    return fruits360(data_root or DEFAULT_DATA_ROOT, grouping=grouping, per_class=per_class, seed=seed)


def say_data(dm: InMemoryImageDataModule, stream=None) -> None:
    """Tell the user which images the figures come from (loudly when they are synthetic)."""
    stream = stream or sys.stdout
    root = getattr(dm, "root", "?")
    if dm.synthetic:
        print(f"note: using SYNTHETIC images (procedurally generated, not Fruits-360) from {root}",
              file=stream)
    else:
        print(f"data: {root} ({dm.num_classes} classes: {', '.join(dm.class_names)})", file=stream)


def export_from_source(source: ModelSource, out: str | Path, dm: InMemoryImageDataModule | None = None, *,
                       data_root: str | Path | None = None, grouping: str | None = "apple_pear_noise",
                       per_class: int | None = 400, calibration: int = DEFAULT_CALIBRATION_IMAGES,
                       test: int | None = None, precisions: tuple[str, ...] = PRECISIONS, seed: int = 0,
                       verbose: bool = True, thresholds: ParityThresholds | None = None) -> dict:
    """Export ``source`` into ``out``, judged on every real image of ``dm`` (built from the options if ``None``).

    ``dm``'s ``per_class`` cap does not apply to the judging: an uncapped twin of it gives every
    image (test split first, with labels), and ``calibration`` seeded training images.
    ``test`` caps how many images are judged (``None``: all of them).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"output folder {out} is a file")
    dm = dm or build_datamodule(source, data_root, grouping, per_class, seed)
    if verbose:
        say_data(dm)
    full = uncapped(dm)
    same_task = dm.num_classes == source.num_classes
    data = eval_set(full, labelled=same_task)
    if test is not None and test < len(data):
        data = EvalSet(data.images[:test], None if data.labels is None else data.labels[:test], data.transform,
                       {"first": test})
    calib = full.sample_images(calibration, split="train")
    if not same_task and verbose:
        print(f"note: the data has {dm.num_classes} classes, the model {source.num_classes}: "
              "test accuracy is not measured, agreement with PyTorch still is")
    fresh = source.checkpoint is None
    labels = list(dm.class_names) if same_task else [f"class_{i}" for i in range(source.num_classes)]
    transform = dm.transform
    info = {"labels": labels, "mean": [float(m) for m in transform.mean], "std": [float(v) for v in transform.std],
            "grouping": getattr(dm, "grouping", None) if same_task else None, "name": f"orchard {source.arch}",
            "arch": source.arch}
    extra = {**source.describe(), "data": describe_data(dm)}
    return export_model(source.net, out, calib, precisions=precisions, extra=extra,
                        thresholds=thresholds or ParityThresholds(), data=data, fresh_weights=fresh, info=info)


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:6.1%}"


def print_summary(report: dict, out: str | Path, stream=None) -> None:
    """What was written and how each model was judged: sizes, accuracy, agreement, logit error, GPU verdict."""
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
