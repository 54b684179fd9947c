"""The names of an export, defined once: precisions, quantisation variants, the files an export
folder holds, and the command's data defaults. Imports nothing heavy (``cli.py --help`` reads it).
"""
from __future__ import annotations

from .metadata import LABELS_FILE

# what ``export.json["tflite"]`` holds: "int8" there is the quantised deliverable, whatever its variant
PRECISIONS = ("float32", "float16", "int8")
# the fallback ladder, tried in this order when the one before misses the gate
QUANT_VARIANTS = ("int8", "int16act", "dynamic")
# every model onnx2tf can write
VARIANTS = ("float32", "float16", *QUANT_VARIANTS)

ONNX_FILE = "model.onnx"
REPORT_FILE = "export.json"
# what an export folder holds (an earlier export there may be replaced; anything else is refused)
EXPORT_OUTPUTS = (ONNX_FILE, "model_*.tflite", REPORT_FILE, LABELS_FILE)

DEFAULT_DATA_ROOT = "data/fruits360-synthetic"
DEFAULT_CALIBRATION_IMAGES = 500  # seeded training images the quantised models are calibrated on


def tflite_file(variant: str) -> str:
    """The file name of one variant's model inside an export folder (``model_<variant>.tflite``).

    Raises:
        ValueError: ``variant`` is none of :data:`VARIANTS`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return f"model_{variant}.tflite"
