"""Lightning's NVML-based CUDA check, dropped where no NVML library can be loaded.

``import lightning_fabric`` sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` so that asking torch whether
CUDA is available reads NVML instead of initialising CUDA (which would make ``fork`` unsafe).
Where NVML cannot be loaded (no NVIDIA driver), torch answers from the CUDA runtime's own count
anyway, after a failed ``dlopen`` of the NVML library on every question; and ``torch.optim`` asks
on every ``step()`` (its graph-capture health check), so each CPU training step pays for a failed
library load (~0.3 ms a step on the 2-core Xeon, 4 % of stage 3's training). Without NVML the
variable changes no answer, only that cost, so it is removed there.
"""
from __future__ import annotations

import ctypes
import os
from typing import Callable, MutableMapping, Optional

NVML_CHECK_ENV = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"  # the name torch.cuda loads


def drop_nvml_check_without_nvml(rocm: Optional[bool] = None, environ: MutableMapping[str, str] = os.environ,
                                 load: Callable[[str], object] = ctypes.CDLL) -> bool:
    """Remove ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` from ``environ`` when ``load`` cannot open NVML; True if removed.

    Call it after Lightning is imported (the import sets the variable). ``rocm``: torch is a ROCm
    build, whose check reads AMD's library instead, so nothing is removed (``None``: read from
    ``torch.version.hip``).
    """
    if environ.get(NVML_CHECK_ENV) != "1":
        return False
    if rocm is None:
        import torch

        rocm = torch.version.hip is not None
    if rocm:
        return False
    try:
        load(NVML_LIBRARY)
    except OSError:
        del environ[NVML_CHECK_ENV]
        return True
    return False
