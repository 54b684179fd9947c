"""ONNX Runtime on the CPU: one session per model and thread count."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def onnx_session(path: str | Path, threads: int = 1):
    """An ``onnxruntime.InferenceSession`` on the CPU with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(session, images_nchw: np.ndarray) -> np.ndarray:
    """Logits for ``images_nchw`` (float32 ``N x 3 x H x W``), one image at a time (static batch 1)."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: images_nchw[i:i + 1]})[0] for i in range(images_nchw.shape[0])]
    return np.concatenate(out, axis=0)
