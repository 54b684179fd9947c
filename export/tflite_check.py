"""Check a ``.tflite`` flatbuffer's structure before the TFLite interpreter sees it.

The interpreter trusts the file: a truncated model (a copy cut short, a download that stopped)
makes it read past the end of its buffer and the process dies with a segmentation fault, no
word said. :func:`check_tflite_structure` walks the parts the interpreter reads first — the root
table, operator codes, subgraphs with their tensors and operators, and the weight buffers — and
checks that every table, vector and buffer lies inside the file and every index points at
something that exists. It reads the file with ``flatbuffers``' own table accessors, with the
field slots of TFLite's schema (``tensorflow/lite/schema/schema.fbs``).
"""
from __future__ import annotations

import struct
from pathlib import Path

from flatbuffers.table import Table

from .errors import NotTFLiteError

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8
MIN_SIZE = 16  # root offset, identifier and the smallest table

# vtable slots of the fields read (schema.fbs field index i -> slot 4 + 2 i)
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 6, 8, 10, 12
MODEL_METADATA_BUFFER, MODEL_METADATA, MODEL_SIGNATURE_DEFS = 14, 16, 18
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS, SUBGRAPH_NAME = 4, 6, 8, 10, 12
TENSOR_SHAPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION, TENSOR_SHAPE_SIGNATURE = 4, 8, 10, 12, 18
QUANT_MIN, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT = 4, 6, 8, 10
OPERATOR_OPCODE_INDEX, OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_OPTIONS, OPERATOR_CUSTOM_OPTIONS = 4, 6, 8, 12, 14
OPERATOR_INTERMEDIATES = 20
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 4, 6, 8
METADATA_NAME, METADATA_BUFFER = 4, 6
SIGNATURE_INPUTS, SIGNATURE_OUTPUTS, SIGNATURE_KEY = 4, 6, 8
TENSOR_MAP_NAME = 4


class _Damaged(Exception):
    """A part of the flatbuffer lies outside the file or points at nothing."""


class _Reader:
    """Bounds-checked access to the tables and vectors of one flatbuffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def _within(self, start: int, length: int, what: str) -> None:
        if start < 0 or length < 0 or start + length > self.size:
            raise _Damaged(f"{what} at byte {start} (+{length}) lies outside the file")

    def table(self, pos: int, what: str) -> Table:
        """The table at ``pos``, its vtable and inline fields checked to lie inside the file."""
        self._within(pos, 4, what)
        vtable = pos - struct.unpack_from("<i", self.data, pos)[0]
        self._within(vtable, 4, f"{what}'s vtable")
        vtable_len, object_len = struct.unpack_from("<HH", self.data, vtable)
        if vtable_len < 4:
            raise _Damaged(f"{what}'s vtable at byte {vtable} is malformed")
        self._within(vtable, vtable_len, f"{what}'s vtable")
        self._within(pos, object_len, what)
        return Table(self.data, pos)

    def vector(self, table: Table, slot: int, elem_size: int, what: str) -> tuple[int, int]:
        """(first element's position, length) of a vector field; (0, 0) when the field is absent."""
        o = table.Offset(slot)
        if not o:
            return 0, 0
        self._within(table.Pos + o, 4, what)
        ref = table.Pos + o + struct.unpack_from("<I", self.data, table.Pos + o)[0]
        self._within(ref, 4, what)
        length = struct.unpack_from("<I", self.data, ref)[0]
        self._within(ref + 4, length * elem_size, what)
        return ref + 4, length

    def tables(self, table: Table, slot: int, what: str) -> list[Table]:
        """The tables of a vector-of-tables field, each checked."""
        start, length = self.vector(table, slot, 4, what)
        out = []
        for i in range(length):
            at = start + 4 * i
            out.append(self.table(at + struct.unpack_from("<I", self.data, at)[0], f"{what}[{i}]"))
        return out

    def ints(self, table: Table, slot: int, what: str) -> list[int]:
        start, length = self.vector(table, slot, 4, what)
        return list(struct.unpack_from(f"<{length}i", self.data, start)) if length else []

    def table_field(self, table: Table, slot: int, what: str) -> Table | None:
        """A table-valued field (``None`` when absent), checked."""
        o = table.Offset(slot)
        if not o:
            return None
        self._within(table.Pos + o, 4, what)
        return self.table(table.Pos + o + struct.unpack_from("<I", self.data, table.Pos + o)[0], what)

    @staticmethod
    def scalar(table: Table, slot: int, fmt: str, default: int = 0) -> int:
        o = table.Offset(slot)
        return struct.unpack_from(fmt, table.Bytes, table.Pos + o)[0] if o else default


def _check_model(reader: _Reader) -> None:
    data = reader.data
    root = struct.unpack_from("<I", data, 0)[0]
    if root < 8:
        raise _Damaged(f"root table offset {root} points into the header")
    model = reader.table(root, "model")
    opcodes = reader.tables(model, MODEL_OPERATOR_CODES, "operator_codes")
    buffers = reader.tables(model, MODEL_BUFFERS, "buffers")
    for i, buffer in enumerate(buffers):
        reader.vector(buffer, BUFFER_DATA, 1, f"buffers[{i}].data")
        offset = reader.scalar(buffer, BUFFER_OFFSET, "<Q")
        if offset > 1:  # weights stored after the flatbuffer (models over 2 GB): offset from the file's start
            reader._within(offset, reader.scalar(buffer, BUFFER_SIZE, "<Q"), f"buffers[{i}]")
    reader.vector(model, MODEL_DESCRIPTION, 1, "description")
    reader.vector(model, MODEL_METADATA_BUFFER, 4, "metadata_buffer")
    for i, meta in enumerate(reader.tables(model, MODEL_METADATA, "metadata")):
        reader.vector(meta, METADATA_NAME, 1, f"metadata[{i}].name")
        if reader.scalar(meta, METADATA_BUFFER, "<I") >= max(len(buffers), 1):
            raise _Damaged(f"metadata[{i}] refers to a buffer that does not exist")
    for i, signature in enumerate(reader.tables(model, MODEL_SIGNATURE_DEFS, "signature_defs")):
        reader.vector(signature, SIGNATURE_KEY, 1, f"signature_defs[{i}].signature_key")
        for slot in (SIGNATURE_INPUTS, SIGNATURE_OUTPUTS):
            for tensor_map in reader.tables(signature, slot, f"signature_defs[{i}] tensors"):
                reader.vector(tensor_map, TENSOR_MAP_NAME, 1, f"signature_defs[{i}] tensor name")
    subgraphs = reader.tables(model, MODEL_SUBGRAPHS, "subgraphs")
    if not subgraphs:
        raise _Damaged("the model has no subgraph")
    for g, subgraph in enumerate(subgraphs):
        tensors = reader.tables(subgraph, SUBGRAPH_TENSORS, f"subgraphs[{g}].tensors")
        for t, tensor in enumerate(tensors):
            reader.vector(tensor, TENSOR_SHAPE, 4, f"tensor {t}'s shape")
            reader.vector(tensor, TENSOR_SHAPE_SIGNATURE, 4, f"tensor {t}'s shape signature")
            reader.vector(tensor, TENSOR_NAME, 1, f"tensor {t}'s name")
            quantization = reader.table_field(tensor, TENSOR_QUANTIZATION, f"tensor {t}'s quantization")
            if quantization is not None:
                for slot, size in ((QUANT_MIN, 4), (QUANT_MAX, 4), (QUANT_SCALE, 4), (QUANT_ZERO_POINT, 8)):
                    reader.vector(quantization, slot, size, f"tensor {t}'s quantization")
            index = reader.scalar(tensor, TENSOR_BUFFER, "<I")
            if index >= max(len(buffers), 1):
                raise _Damaged(f"tensor {t} refers to buffer {index} of {len(buffers)}")
        refs = reader.ints(subgraph, SUBGRAPH_INPUTS, "inputs") + reader.ints(subgraph, SUBGRAPH_OUTPUTS, "outputs")
        reader.vector(subgraph, SUBGRAPH_NAME, 1, f"subgraphs[{g}].name")
        for o, op in enumerate(reader.tables(subgraph, SUBGRAPH_OPERATORS, f"subgraphs[{g}].operators")):
            code = reader.scalar(op, OPERATOR_OPCODE_INDEX, "<I")
            if code >= len(opcodes):
                raise _Damaged(f"operator {o} refers to operator code {code} of {len(opcodes)}")
            reader.table_field(op, OPERATOR_OPTIONS, f"operator {o}'s options")
            reader.vector(op, OPERATOR_CUSTOM_OPTIONS, 1, f"operator {o}'s custom options")
            refs += reader.ints(op, OPERATOR_INTERMEDIATES, f"operator {o}'s intermediates")
            refs += reader.ints(op, OPERATOR_INPUTS, f"operator {o}'s inputs")
            refs += reader.ints(op, OPERATOR_OUTPUTS, f"operator {o}'s outputs")
        bad = next((r for r in refs if not -1 <= r < len(tensors)), None)
        if bad is not None:
            raise _Damaged(f"subgraph {g} refers to tensor {bad} of {len(tensors)}")


def check_tflite_structure(path: str | Path) -> Path:
    """``path`` if it is a complete TFLite flatbuffer the interpreter can safely read.

    Raises:
        NotTFLiteError: one line naming the file and what is wrong (missing, too short, no
            ``TFL3`` identifier, or a table, vector or buffer outside the file: truncated or damaged).
    """
    path = Path(path)
    if not path.is_file():
        raise NotTFLiteError(f"TFLite model {path} does not exist")
    data = path.read_bytes()
    if len(data) < MIN_SIZE:
        raise NotTFLiteError(f"{path} is not a TFLite model ({len(data)} bytes)")
    if data[4:8] != TFLITE_IDENTIFIER:
        raise NotTFLiteError(f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)")
    try:
        _check_model(_Reader(data))
    except (_Damaged, struct.error) as e:
        raise NotTFLiteError(f"{path} is a damaged or truncated TFLite model ({e}; {len(data):,} bytes)") from None
    return path
