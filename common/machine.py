"""Describe the machine a report was measured on (CPU, cores, GPU, library versions)."""
from __future__ import annotations

import os
import platform
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the platform has one, else all of them."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux (macOS)
        return os.cpu_count() or 1


def machine_info() -> dict:
    """``{"cpu", "cores", "gpu", "platform", "python", "versions": {...}}``."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    cores = usable_cores()
    dists = ["torch", "torchvision", "pytorch-lightning", "torchmetrics", "onnx", "onnxruntime", "onnx2tf",
             "tensorflow", "tf-keras", "ai-edge-litert", "numpy"]
    return {
        "cpu": _cpu_model(),
        "cores": cores,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": {d: _version(d) for d in dists},
    }
