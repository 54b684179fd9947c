"""A ``.tflite`` that describes itself: named signature, labels and input normalisation inside the file.

The standard TFLite Metadata writer (``tflite_support``) needs ``protobuf<4`` and cannot be
installed beside the pinned stack, so orchard does what ultralytics does and what TFLite
Metadata itself does with associated files: a zip archive (``labels.txt`` + ``metadata.json``)
appended to the flatbuffer. The interpreter reads the flatbuffer and ignores the bytes after
it, and any zip tool (``unzip model_int8.tflite``, Python's ``zipfile``) lists the archive.

Besides the archive, :func:`name_signature` rewrites the flatbuffer itself so the serving
signature reads ``input`` -> ``logits`` in every variant (onnx2tf names the quantised ones'
output ``output_0``) and the model's ``description`` names the model.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from common.atomic import atomic_path

from .errors import NotTFLiteError

METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"
METADATA_FORMAT = "orchard-tflite-metadata"
METADATA_VERSION = 1
SIGNATURE_KEY = "serving_default"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class MetadataError(NotTFLiteError):
    """A ``.tflite`` file carries no (readable) orchard metadata."""


def _flatbuffer_end(data: bytes) -> int:
    """Length of the flatbuffer part of ``data`` (everything before an appended zip archive)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            offsets = [info.header_offset for info in zf.infolist()]
    except zipfile.BadZipFile:
        return len(data)
    return min(offsets) if offsets else len(data)


def name_signature(path: str | Path, description: str | None = None) -> None:
    """Name the signature's input ``input`` and output ``logits`` (tensors too), set the description.

    Rewrites the flatbuffer in place (atomically) with the schema's object API; weights and
    graph are copied unchanged.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    data = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data[:_flatbuffer_end(data)]), 0)
    subgraph = model.subgraphs[0]
    if not model.signatureDefs:
        model.signatureDefs = [schema.SignatureDefT()]
        model.signatureDefs[0].subgraphIndex = 0
        model.signatureDefs[0].inputs = [schema.TensorMapT()]
        model.signatureDefs[0].outputs = [schema.TensorMapT()]
        model.signatureDefs[0].inputs[0].tensorIndex = subgraph.inputs[0]
        model.signatureDefs[0].outputs[0].tensorIndex = subgraph.outputs[0]
    signature = model.signatureDefs[0]
    signature.signatureKey = SIGNATURE_KEY
    for maps, name in ((signature.inputs, INPUT_NAME), (signature.outputs, OUTPUT_NAME)):
        if len(maps) != 1:
            raise NotTFLiteError(f"{path}: expected one signature {name}, found {len(maps)}")
        maps[0].name = name
        subgraph.tensors[maps[0].tensorIndex].name = name
    if description is not None:
        model.description = description
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with atomic_path(path) as tmp:
        tmp.write_bytes(bytes(builder.Output()))


def write_metadata(path: str | Path, meta: dict[str, Any]) -> None:
    """Append (or replace) the archive with ``metadata.json`` and ``labels.txt`` to ``path``.

    Args:
        path: a ``.tflite`` file.
        meta: at least ``name``, ``version``, ``arch``, ``labels`` (list of class names in output
            order), ``input`` (``layout``, ``shape``, ``mean``, ``std``, ``quantization``) and
            ``output``. ``format``/``format_version`` are added.
    """
    missing = [k for k in ("name", "version", "arch", "labels", "input", "output") if k not in meta]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    path = Path(path)
    data = path.read_bytes()
    full = {"format": METADATA_FORMAT, "format_version": METADATA_VERSION, **meta}
    flatbuffer = data[:_flatbuffer_end(data)]
    with atomic_path(path) as tmp:
        tmp.write_bytes(flatbuffer)
        # zipfile appends a new archive to a file that is not one (the ultralytics way)
        with zipfile.ZipFile(tmp, "a", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA_FILE, json.dumps(full, indent=2) + "\n")
            zf.writestr(LABELS_FILE, "".join(f"{label}\n" for label in meta["labels"]))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`write_metadata` put into ``path`` (labels read from ``labels.txt``).

    Raises:
        MetadataError: the file carries no orchard metadata (e.g. it was stripped or re-saved).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read(METADATA_FILE))
            labels = zf.read(LABELS_FILE).decode("utf-8").splitlines()
    except FileNotFoundError:
        raise MetadataError(f"TFLite model {path} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError, OSError):
        raise MetadataError(f"{path} carries no orchard metadata (labels, input normalisation); "
                            "export it again with `python cli.py export`") from None
    if meta.get("format") != METADATA_FORMAT:
        raise MetadataError(f"{path} carries metadata of another format ({meta.get('format')!r})")
    meta["labels"] = labels
    return meta


def strip_metadata(path: str | Path) -> None:
    """Remove the appended archive (leaves the bare flatbuffer)."""
    path = Path(path)
    data = path.read_bytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data[:_flatbuffer_end(data)])
