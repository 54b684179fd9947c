"""``python cli.py predict-images MODEL PHOTOS...``: classify photos with a ``.tflite`` or a checkpoint.

    python cli.py predict-images runs/export/alexnet/model_int8.tflite my_photos/ --out preds.csv
    python cli.py predict-images RUN/checkpoints/best.ckpt data/fruits360/Test --labels-from-folders

A ``.tflite`` written by ``cli.py export`` carries its labels, input size and normalisation
(``export.metadata``); a checkpoint from ``cli.py fit`` carries its architecture and the
datamodule it was trained with (whose class folders give the labels). PHOTOS are JPEG/PNG files
or folders (searched recursively). The CSV (``path,label,probability,error``) goes to ``--out``
(written atomically) or stdout. A photo that cannot be decoded is reported in its row and in a
warning; the others are still classified. With ``--labels-from-folders`` each photo's folder
is its true class (the Fruits-360 layout), grouped as the model was trained (``Apple*`` ->
apple, ``Pear*`` -> pear, any other fruit -> noise for an apple / pear / noise model), and the
accuracy is printed.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.commands import add_command, standalone_parser

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
CSV_COLUMNS = ("path", "label", "probability", "error")


@dataclass
class Classifier:
    """A model ready to classify: labels, input side, normalisation and a logits function."""

    labels: list[str]
    image_size: int
    mean: list[float]
    std: list[float]
    grouping: str | None
    logits: Callable  # EvalSet -> np.ndarray
    description: str


def _error(message: str):
    from common.errors import OrchardError

    return OrchardError(message)


def load_classifier(model_path: str | Path, threads: int | None = None) -> Classifier:
    """A :class:`Classifier` from a ``.tflite`` (its metadata) or a Lightning checkpoint (its hyper-parameters)."""
    path = Path(model_path)
    if not path.exists():
        raise _error(f"model {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from .evaluation import tflite_logits
        from .metadata import read_metadata
        from .tflite_runtime import TFLiteModel

        meta = read_metadata(path)
        TFLiteModel(path, 1)  # fails in one line if the interpreter cannot load it
        shape = meta["input"]["shape"]
        return Classifier(list(meta["labels"]), int(shape[1]), meta["input"]["mean"], meta["input"]["std"],
                          meta.get("grouping"), lambda data: tflite_logits(path, data, threads),
                          f"{meta['name']} ({meta.get('variant')}) from {path.name}")
    if suffix == ".ckpt":
        from .evaluation import pytorch_logits
        from .source import datamodule_from_hparams, load_checkpoint_model

        source = load_checkpoint_model(path)
        if not source.datamodule:
            raise _error(f"checkpoint {path} records no datamodule, so no class names; export it with "
                         "`python cli.py export` and use the .tflite, which carries them")
        dm = datamodule_from_hparams({**source.datamodule, "augment": False})
        if dm.num_classes != source.num_classes:
            raise _error(f"checkpoint {path}: its datamodule has {dm.num_classes} classes, the model {source.num_classes}")
        t = dm.transform
        return Classifier(list(dm.class_names), int(t.image_size), list(t.mean), list(t.std),
                          getattr(dm, "grouping", None), lambda data: pytorch_logits(source.net, data),
                          f"{source.arch} from {path.name}")
    raise _error(f"{path} is neither a .tflite model nor a Lightning .ckpt checkpoint")


def find_photos(inputs: list[str]) -> tuple[list[Path], int]:
    """JPEG/PNG files named or found (recursively, sorted) in folders; also how many other files were skipped."""
    photos, skipped = [], 0
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            chosen = [f for f in found if f.suffix.lower() in PHOTO_SUFFIXES]
            skipped += len(found) - len(chosen)
            if not chosen:
                raise _error(f"no JPEG/PNG photos in folder {p}")
            photos += chosen
        elif p.is_file():
            if p.suffix.lower() not in PHOTO_SUFFIXES:
                raise _error(f"{p} is not a JPEG/PNG photo (unknown file type {p.suffix or 'without suffix'!r})")
            photos.append(p)
        else:
            raise _error(f"photo or folder {p} does not exist")
    return photos, skipped


def decode_photos(photos: list[Path], size: int) -> tuple[np.ndarray, dict[int, str]]:
    """``N x 3 x size x size`` uint8 pixels (RGB, bilinear resize, as training decoded them) and the
    undecodable photos' indices with the reason (their pixels are zeros)."""
    from datamodules.errors import DataError
    from datamodules.image_cache import _decode

    out = np.zeros((len(photos), size, size, 3), dtype=np.uint8)
    errors: dict[int, str] = {}

    def work(i: int) -> None:
        try:
            out[i] = _decode(photos[i], size)[0]
        except DataError as e:
            errors[i] = str(e)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(len(photos))))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), errors


def true_label(folder: str, labels: list[str], grouping: str | None) -> str | None:
    """The model's label for a photo in a Fruits-360 class folder (``None``: the model has no such class)."""
    if folder in labels:
        return folder
    if grouping == "apple_pear_noise":
        from datamodules.fruits360 import APPLE_PEAR_NOISE

        for label, pattern in APPLE_PEAR_NOISE:
            if fnmatch.fnmatchcase(folder, pattern):
                return label
        return "noise"
    return None


def predict(classifier: Classifier, photos: list[Path]) -> tuple[list[dict], dict[int, str]]:
    """One row per photo (``path``, ``label``, ``probability``, ``error``)."""
    import torch

    from datamodules.batches import BatchTransform

    from .evaluation import EvalSet
    from .parity import softmax

    pixels, errors = decode_photos(photos, classifier.image_size)
    good = [i for i in range(len(photos)) if i not in errors]
    rows = [{"path": str(p), "label": "", "probability": "", "error": errors.get(i, "")} for i, p in enumerate(photos)]
    if good:
        transform = BatchTransform(classifier.image_size, tuple(classifier.mean), tuple(classifier.std),
                                   channels_last=False)
        data = EvalSet(torch.from_numpy(pixels[good]), None, transform.images)
        probs = softmax(classifier.logits(data))
        for row_index, p in zip(good, probs):
            rows[row_index]["label"] = classifier.labels[int(p.argmax())]
            rows[row_index]["probability"] = f"{float(p.max()):.6f}"
    return rows, errors


def write_csv(rows: list[dict], out: Path | None) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        from common.atomic import write_text_atomic

        if out.is_dir():
            raise _error(f"--out {out} is a folder; give a .csv file name")
        write_text_atomic(out, buffer.getvalue())


HELP = "classify JPEG/PNG photos with a .tflite or a checkpoint -> CSV"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``predict-images`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "predict-images", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """``predict-images``' parser on its own (``main`` given an argument list)."""
    return standalone_parser("cli.py predict-images", __doc__, add_arguments)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options (argument definitions only: no torch)."""
    parser.add_argument("model", help="a .tflite from `cli.py export` or a .ckpt from `cli.py fit`")
    parser.add_argument("photos", nargs="+", help="JPEG/PNG files or folders of them")
    parser.add_argument("--out", default=None, help="CSV file to write (default: stdout)")
    parser.add_argument("--labels-from-folders", action="store_true",
                        help="each photo's folder names its class (Fruits-360 layout): print the accuracy")
    parser.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads (default: all cores)")


def main(args: argparse.Namespace | list[str]) -> int:
    """Classify the photos from parsed options (or an argument list, parsed here)."""
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    log = sys.stderr if args.out is None else sys.stdout
    photos, skipped = find_photos(args.photos)
    classifier = load_classifier(args.model, args.threads)
    rows, errors = predict(classifier, photos)
    if len(errors) == len(photos):
        first = next(iter(errors.values()))
        raise _error(first if len(photos) == 1 else f"none of the {len(photos)} photos could be decoded ({first})")
    out = Path(args.out) if args.out else None
    write_csv(rows, out)
    print(f"classified {len(photos) - len(errors)} photo(s) with {classifier.description}"
          + (f"; wrote {out}" if out else ""), file=log)
    if skipped:
        print(f"note: skipped {skipped} file(s) that are not JPEG/PNG", file=log)
    if errors:
        print(f"warning: {len(errors)} photo(s) could not be decoded (rows with an error in the CSV), "
              f"e.g. {next(iter(errors.values()))}", file=log)
    if args.labels_from_folders:
        _print_accuracy(rows, photos, errors, classifier, log)
    return 0


def _print_accuracy(rows: list[dict], photos: list[Path], errors: dict[int, str], classifier: Classifier, log) -> None:
    right = counted = unknown = 0
    for i, (row, photo) in enumerate(zip(rows, photos)):
        if i in errors:
            continue
        truth = true_label(photo.parent.name, classifier.labels, classifier.grouping)
        if truth is None:
            unknown += 1
            continue
        counted += 1
        right += row["label"] == truth
    if counted:
        print(f"accuracy {right / counted:.2%} ({right} of {counted} photos, true class from their folders"
              + (f", grouped {classifier.grouping}" if classifier.grouping else "") + ")", file=log)
    if unknown:
        print(f"note: {unknown} photo(s) are in folders that name no class of the model; not counted", file=log)
