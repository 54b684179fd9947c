"""ONNX -> TFLite (float32, float16 and the quantised variants) with onnx2tf, offline, in its own process.

The onnx2tf process is tied to this one: it gets its own process group, the kernel sends it
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and whatever interrupts the parent
(Ctrl-C, SIGTERM turned into ``KeyboardInterrupt`` by ``cli.py export``) kills its group
before the temporary folder is removed.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ExportError
from .names import PRECISIONS, QUANT_VARIANTS, VARIANTS, tflite_file

# onnx2tf loads this file from its working directory, or downloads it (MS-COCO samples).
ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
ONNX2TF_SAMPLE_SHAPE = (20, 128, 128, 3)
# variant -> the file onnx2tf writes for it (``<stem>_<suffix>.tflite``). One conversion with
# quantisation writes every quantised variant.
ONNX2TF_SUFFIX = {
    "float32": "float32",
    "float16": "float16",
    "int8": "full_integer_quant",  # int8 weights and activations, int8 input/output, per-channel
    "int16act": "full_integer_quant_with_int16_act",  # int8 weights, int16 activations and input/output
    "dynamic": "dynamic_range_quant",  # int8 weights, float activations and input/output
}
REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG = "onnx2tf.log"


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
                      variants: tuple[str, ...] = PRECISIONS, input_name: str = "input",
                      timeout_s: float = 600.0) -> dict[str, Path]:
    """Run onnx2tf on ``onnx_path`` and move the wanted ``.tflite`` files into ``out_dir``.

    Returns ``{variant: path}``; see :func:`onnx2tf_job` for the arguments.
    """
    with onnx2tf_job(onnx_path, out_dir, calibration_images, variants, input_name, timeout_s) as finish:
        return finish()


@contextmanager
def onnx2tf_job(onnx_path: str | Path, out_dir: str | Path, calibration_images: torch.Tensor,
                variants: tuple[str, ...] = PRECISIONS, input_name: str = "input",
                timeout_s: float = 600.0) -> Iterator[Callable[[], dict[str, Path]]]:
    """Start onnx2tf on ``onnx_path`` in its own process; yield a function that waits for it.

    The caller can work meanwhile (the conversion is mostly one core's work). The function
    returns ``{variant: path}`` with the files moved into ``out_dir`` as ``model_<variant>.tflite``.
    Leaving the block kills the worker if it still runs and removes its temporary folder.

    Args:
        onnx_path: the ONNX model (static batch 1, NCHW input named ``input_name``).
        out_dir: where ``model_<variant>.tflite`` are written.
        calibration_images: normalised float NCHW real images; the quantised variants are
            calibrated on them.
        variants: any of :data:`VARIANTS`.
        timeout_s: limit for the onnx2tf process.

    Needs no network: the sample file onnx2tf would fetch is written from
    ``calibration_images`` into the worker's temporary working directory.
    """
    onnx_path, out_dir = Path(onnx_path).resolve(), Path(out_dir)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ExportError(f"unknown TFLite variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if calibration_images.ndim != 4 or calibration_images.shape[1] != 3:
        raise ExportError(f"calibration images must be N x 3 x H x W, got {tuple(calibration_images.shape)}")
    with tempfile.TemporaryDirectory(prefix="orchard-onnx2tf-") as tmp:
        work = Path(tmp)
        np.save(work / ONNX2TF_SAMPLE_FILE, onnx2tf_sample(calibration_images))
        np.save(work / "calibration.npy", to_nhwc(calibration_images))
        # onnx2tf simplifies the ONNX file it is given in place: give it a copy.
        shutil.copyfile(onnx_path, work / onnx_path.name)
        spec = {"onnx": str(work / onnx_path.name), "out": str(work / "tf"), "calibration": str(work / "calibration.npy"),
                "quantize": bool(set(variants) & set(QUANT_VARIANTS)), "input_name": input_name}
        (work / "spec.json").write_text(json.dumps(spec))
        proc = _start_worker(work)

        def finish() -> dict[str, Path]:
            _wait_worker(proc, work, timeout_s)
            produced = {}
            for variant in variants:
                src = work / "tf" / f"{onnx_path.stem}_{ONNX2TF_SUFFIX[variant]}.tflite"
                if not src.is_file():
                    raise ExportError(f"onnx2tf wrote no {variant} model for {onnx_path.name} (expected {src.name})")
                dst = out_dir / tflite_file(variant)
                shutil.move(str(src), dst)
                produced[variant] = dst
            return produced

        try:
            yield finish
        finally:  # also on KeyboardInterrupt / SIGTERM: no orphan keeps writing into the temp folder
            _kill_group(proc)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL this (child) process when the thread that started it exits."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the process group kill in _run_worker still applies
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group (onnx2tf may start helpers) and reap the worker."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _start_worker(work: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow's own temporary files (autograph sources ...) land in the work folder, which the
    # parent removes even when the worker is killed before it could clean up after itself
    (work / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(work / "tmp")
    cmd = [sys.executable, "-m", "export.onnx2tf_worker", str(work / "spec.json")]
    # output to a file, not a pipe: the parent works meanwhile and would not drain a full pipe
    with open(work / WORKER_LOG, "w") as log:
        # its own process group (killed as a whole), and SIGKILL from the kernel if this process dies
        return subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=_die_with_parent)


def _wait_worker(proc: subprocess.Popen, work: Path, timeout_s: float) -> None:
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ExportError(f"onnx2tf took longer than {timeout_s:.0f} s and was stopped") from None
    if proc.returncode != 0:
        output = (work / WORKER_LOG).read_text(errors="replace")
        lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith(("W0000", "I0000"))]
        tail = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        raise ExportError(f"onnx2tf failed (exit {proc.returncode}): {tail[:300]}")
