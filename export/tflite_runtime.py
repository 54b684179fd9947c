"""The TFLite interpreter (ai_edge_litert): load a model, feed NHWC images, read op counts.

Benchmarks reuse :func:`load_interpreter` and :class:`TFLiteModel` so the exported model is
timed exactly the way its parity was checked.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import NotTFLiteError
from .tflite_check import TFLITE_IDENTIFIER, check_tflite_structure  # noqa: F401 - the identifier, re-exported


def check_tflite_file(path: str | Path) -> Path:
    """``path`` if it is a complete TFLite flatbuffer, else :class:`NotTFLiteError`.

    Every interpreter in orchard is made through here: a truncated or damaged file would crash
    the interpreter (segmentation fault) instead of raising (see ``export/tflite_check.py``).
    """
    return check_tflite_structure(path)


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null within the block (errors still raise)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_interpreter(path: str | Path, threads: int = 1, delegates: bool = True):
    """A ready ``ai_edge_litert.interpreter.Interpreter`` (tensors allocated).

    Args:
        path: ``.tflite`` file.
        threads: CPU threads for the kernels (and the XNNPACK delegate).
        delegates: apply the default XNNPACK delegate, as TFLite on a phone does.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = check_tflite_file(path)
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        with quiet_native_stderr():  # the runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line
            interpreter = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise NotTFLiteError(f"{path} cannot be loaded by the TFLite interpreter: {str(e).splitlines()[0]}") from None
    return interpreter


def op_counts(path: str | Path) -> dict[str, int]:
    """Operators in the model's graph by type (before any delegate replaces them)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = check_tflite_file(path)
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return dict(sorted(Counter(op["op_name"] for op in interpreter._get_ops_details()).items()))


def tensor_dtypes(interpreter) -> dict[str, int]:
    """How many tensors of each dtype the model holds (``int8`` for a full-integer model)."""
    return dict(sorted(Counter(np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()).items()))


def _io(detail: dict, layout: str | None = None) -> dict:
    scale, zero_point = detail["quantization"]
    out = {"name": detail["name"], "shape": [int(s) for s in detail["shape"]], "dtype": np.dtype(detail["dtype"]).name}
    if layout:
        out["layout"] = layout
    if scale:
        out["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
    return out


class TFLiteModel:
    """One loaded TFLite model with batch-1 NHWC input; quantises int8 input/output itself.

    Args:
        path: ``.tflite`` file.
        threads: interpreter threads.
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        self.interpreter = load_interpreter(path, threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_shape(self) -> list[int]:
        return [int(s) for s in self.input["shape"]]

    @property
    def is_quantized(self) -> bool:
        return np.dtype(self.input["dtype"]).kind in "iu"

    def describe(self) -> dict:
        """Input/output names, shapes, dtypes, layout and quantisation parameters."""
        return {"input": _io(self.input, "NHWC"), "output": _io(self.output)}

    def to_input(self, image_nhwc: np.ndarray) -> np.ndarray:
        """A float NHWC batch-1 image in the model's input dtype (quantised for int8 models)."""
        if not self.is_quantized:
            return image_nhwc.astype(self.input["dtype"], copy=False)
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(self.input["dtype"])
        return np.clip(np.round(image_nhwc / scale + zero_point), info.min, info.max).astype(self.input["dtype"])

    def set_input(self, image_nhwc: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], self.to_input(image_nhwc))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def get_output(self) -> np.ndarray:
        """The output as float32 (dequantised for int8 models)."""
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if np.dtype(self.output["dtype"]).kind in "iu" and scale:
            return (out.astype(np.float32) - zero_point) * scale
        return out.astype(np.float32)

    def predict(self, images_nchw: np.ndarray) -> np.ndarray:
        """Float logits for float ``N x 3 x H x W`` images (fed one by one as NHWC)."""
        outs = []
        for image in images_nchw:
            self.set_input(np.ascontiguousarray(image.transpose(1, 2, 0)[None]))
            self.invoke()
            outs.append(self.get_output())
        return np.concatenate(outs, axis=0)


def run_one_image(model: TFLiteModel, image_nhwc: np.ndarray) -> np.ndarray:
    """Set one NHWC image, invoke once, return the float output (for benchmarks and examples)."""
    model.set_input(image_nhwc)
    model.invoke()
    return model.get_output()
