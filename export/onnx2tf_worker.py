"""Subprocess entry: run onnx2tf on one ONNX file (``python -m export.onnx2tf_worker SPEC.json``).

onnx2tf changes TensorFlow's environment for the whole process it is imported in (it sets
``TF_USE_LEGACY_KERAS=1`` and hides CUDA), so the bridge runs it here, in its own process,
with the current directory set to a temp folder that holds the calibration sample onnx2tf
would otherwise download. The spec (JSON) names: ``onnx`` (input file), ``out`` (folder for
onnx2tf's outputs), ``calibration`` (``N x H x W x 3`` float32 ``.npy`` of normalised real
images, already in the model's input scale) and ``quantize`` (whether to write the quantised
variants: full-integer int8, int8 weights with int16 activations, dynamic range).
"""
from __future__ import annotations

import json
import os
import sys


def run(spec: dict) -> None:
    """Convert ``spec["onnx"]`` into ``spec["out"]`` with onnx2tf."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import onnx2tf

    calibration = None
    if spec["quantize"]:
        # The images are normalised already: onnx2tf's own (x - mean) / std becomes identity.
        calibration = [[spec["input_name"], spec["calibration"], [[[[0.0, 0.0, 0.0]]]], [[[[1.0, 1.0, 1.0]]]]]]
    onnx2tf.convert(
        input_onnx_file_path=spec["onnx"],
        output_folder_path=spec["out"],
        output_integer_quantized_tflite=bool(spec["quantize"]),
        custom_input_op_name_np_data_path=calibration,
        input_quant_dtype="int8",
        output_quant_dtype="int8",
        verbosity="error",
    )


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        run(json.load(f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
