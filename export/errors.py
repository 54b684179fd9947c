"""Errors of the export bridge (one-line messages; ``cli.py`` turns them into exit code 2)."""
from __future__ import annotations

from common.errors import OrchardError


class ExportError(OrchardError):
    """A conversion step failed (ONNX export, onnx2tf) or an input is unusable."""


class ParityError(ExportError):
    """An exported model's outputs do not match PyTorch's within the thresholds."""


class NotTFLiteError(OrchardError):
    """A file given as a TFLite model is not one."""
