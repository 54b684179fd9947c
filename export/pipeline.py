"""Glue shared by ``cli.py export``, the latency benchmark and the latency experiment."""
from __future__ import annotations

import sys
from pathlib import Path

from datamodules.in_memory import InMemoryImageDataModule

from .bridge import export_model
from .data import DEFAULT_DATA_ROOT, datamodule_from_hparams, describe_data, fruits360, real_images
from .errors import ExportError
from .model_source import ModelSource, fresh_model, load_checkpoint_model
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
                       per_class: int | None = 400, calibration: int = 100, test: int = 200,
                       precisions: tuple[str, ...] = PRECISIONS, seed: int = 0, verbose: bool = True) -> dict:
    """Export ``source`` into ``out`` with real images from ``dm`` (built from the options if ``None``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"output folder {out} is a file")
    dm = dm or build_datamodule(source, data_root, grouping, per_class, seed)
    if verbose:
        say_data(dm)
    calib, test_x, test_y = real_images(dm, calibration, test, seed)
    labels = test_y
    if dm.num_classes != source.num_classes:
        labels = None
        if verbose:
            print(f"note: the data has {dm.num_classes} classes, the model {source.num_classes}: "
                  "test accuracy is not measured, parity still is")
    extra = {**source.describe(), "data": describe_data(dm)}
    return export_model(source.net, out, calib, test_x, labels, precisions=precisions, extra=extra)


def print_summary(report: dict, out: str | Path) -> None:
    """A few lines: files, sizes, parity figures, time."""
    arch = report.get("extra", {}).get("arch", report["model"]["class"])
    acc = report["pytorch"]["test_accuracy"]
    print(f"exported {arch} ({report['model']['params']:,} params) to {out} in {report['seconds']['total']:.1f} s"
          + (f"; PyTorch test accuracy {acc:.1%}" if acc is not None else ""))
    o = report["onnx"]
    print(f"  model.onnx             {o['bytes'] / 1e6:7.3f} MB  ONNX Runtime max abs diff {o['max_abs_diff']:.2e}")
    for precision, e in report["tflite"].items():
        figures = [f"max abs diff {e['max_abs_diff']:.2e} (probabilities {e['max_abs_diff_probs']:.1e})",
                   f"top-1 agreement {e['top1_agreement']:.1%}"]
        if e.get("test_accuracy") is not None:
            figures.append(f"test accuracy {e['test_accuracy']:.1%}")
        print(f"  {e['file']:<22} {e['bytes'] / 1e6:7.3f} MB  " + ", ".join(figures))
    print(f"  parity on {report['parity']['images']} {report['parity']['source'].replace('_', ' ')}: passed")
