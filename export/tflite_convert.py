"""ONNX -> TFLite (float32, float16, full-integer int8) with onnx2tf, offline, in its own process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ExportError

# onnx2tf loads this file from its working directory, or downloads it (MS-COCO samples).
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
ONNX2TF_SAMPLE_SHAPE = (20, 128, 128, 3)
# precision -> the file onnx2tf writes for it (``<stem>_<suffix>.tflite``).
ONNX2TF_SUFFIX = {"float32": "float32", "float16": "float16", "int8": "full_integer_quant"}
PRECISIONS = tuple(ONNX2TF_SUFFIX)
REPO_ROOT = Path(__file__).resolve().parent.parent


def to_nhwc(images: torch.Tensor) -> np.ndarray:
    """Float ``N x C x H x W`` tensor -> contiguous float32 ``N x H x W x C`` array."""
    return np.ascontiguousarray(images.detach().float().cpu().permute(0, 2, 3, 1).numpy())


def onnx2tf_sample(images: torch.Tensor) -> np.ndarray:
    """onnx2tf's 20 x 128 x 128 x 3 sample file made from real (normalised) images.

    onnx2tf feeds it (resized back to the model's input size) through the ONNX model to
    check shapes; the images are repeated when fewer than 20 are given.
    """
    reps = -(-ONNX2TF_SAMPLE_SHAPE[0] // images.shape[0])
    x = images.float().repeat(reps, 1, 1, 1)[: ONNX2TF_SAMPLE_SHAPE[0]]
    x = F.interpolate(x, size=ONNX2TF_SAMPLE_SHAPE[1:3], mode="bilinear", align_corners=False)
    return to_nhwc(x)


def convert_to_tflite(onnx_path: str | Path, out_dir: str | Path, calibration_images: torch.Tensor,
                      precisions: tuple[str, ...] = PRECISIONS, input_name: str = "input",
                      timeout_s: float = 600.0) -> dict[str, Path]:
    """Run onnx2tf on ``onnx_path`` and move the wanted ``.tflite`` files into ``out_dir``.

    Args:
        onnx_path: the ONNX model (static batch 1, NCHW input named ``input_name``).
        out_dir: where ``<stem>_<precision>.tflite`` are written.
        calibration_images: normalised float NCHW real images; int8 is calibrated on them.
        precisions: any of ``float32``, ``float16``, ``int8``.
        timeout_s: limit for the onnx2tf process.

    Returns ``{precision: path}``. Needs no network: the sample file onnx2tf would fetch is
    written from ``calibration_images`` into the worker's temporary working directory.
    """
    onnx_path, out_dir = Path(onnx_path).resolve(), Path(out_dir)
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise ExportError(f"unknown precision(s) {unknown}; choose from {', '.join(PRECISIONS)}")
    if calibration_images.ndim != 4 or calibration_images.shape[1] != 3:
        raise ExportError(f"calibration images must be N x 3 x H x W, got {tuple(calibration_images.shape)}")
    with tempfile.TemporaryDirectory(prefix="orchard-onnx2tf-") as tmp:
        work = Path(tmp)
        np.save(work / ONNX2TF_SAMPLE_FILE, onnx2tf_sample(calibration_images))
        np.save(work / "calibration.npy", to_nhwc(calibration_images))
        # onnx2tf simplifies the ONNX file it is given in place: give it a copy.
        shutil.copyfile(onnx_path, work / onnx_path.name)
        spec = {"onnx": str(work / onnx_path.name), "out": str(work / "tf"), "calibration": str(work / "calibration.npy"),
                "int8": "int8" in precisions, "input_name": input_name}
        (work / "spec.json").write_text(json.dumps(spec))
        _run_worker(work, timeout_s)
        produced = {}
        for precision in precisions:
            src = work / "tf" / f"{onnx_path.stem}_{ONNX2TF_SUFFIX[precision]}.tflite"
            if not src.is_file():
                raise ExportError(f"onnx2tf wrote no {precision} model for {onnx_path.name} (expected {src.name})")
            dst = out_dir / f"{onnx_path.stem}_{precision}.tflite"
            shutil.move(str(src), dst)
            produced[precision] = dst
    return produced


def _run_worker(work: Path, timeout_s: float) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "export.onnx2tf_worker", str(work / "spec.json")]
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ExportError(f"onnx2tf took longer than {timeout_s:.0f} s and was stopped") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000"))]
        tail = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise ExportError(f"onnx2tf failed (exit {proc.returncode}): {tail[:300]}")
