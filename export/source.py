"""What an export is made of: the network (a checkpoint, or an architecture with fresh weights) and the
real images it is calibrated and judged on; :func:`export_from_source` hands both to
:func:`export.bridge.export_model`.

Shared by ``cli.py export``, ``predict-images``, the latency benchmark and study 2. Checkpoints are
read once, as data, through :mod:`lightning_modules.checkpoint_io`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch

from common.atomic import check_out_dir
from datamodules.in_memory import InMemoryImageDataModule
from lightning_modules.architectures import OrchardNet, build_model, check_name
from lightning_modules.checkpoint_io import CheckpointError, checkpoint_hparams, checkpoint_state_dict, read_checkpoint
from lightning_modules.init_from import describe_mismatch

from .bridge import export_model
from .errors import ExportError
from .evaluation import EvalSet, eval_set, uncapped
from .parity import ParityThresholds
from .names import DEFAULT_CALIBRATION_IMAGES, DEFAULT_DATA_ROOT, EXPORT_OUTPUTS, PRECISIONS



# -- the network ---------------------------------------------------------------------------------

@dataclass
class ModelSource:
    """A network ready for export and what is known about it.

    Args:
        net: the network, eval mode, float32.
        arch: architecture name in the registry.
        num_classes: output classes.
        checkpoint: the checkpoint it was read from (``None``: fresh weights).
        datamodule: the datamodule hyper-parameters recorded in the checkpoint, if any.
    """

    net: OrchardNet
    arch: str
    num_classes: int
    checkpoint: str | None = None
    datamodule: dict[str, Any] | None = field(default=None)

    def describe(self) -> dict:
        """What ``export.json["extra"]`` records about the network's origin."""
        return {"arch": self.arch, "num_classes": self.num_classes, "checkpoint": self.checkpoint,
                "fresh_weights": self.checkpoint is None}


def fresh_model(arch: str, num_classes: int = 3, seed: int = 0) -> ModelSource:
    """Architecture ``arch`` with seeded random weights (enough for latency work)."""
    check_name(arch)
    torch.manual_seed(seed)
    return ModelSource(build_model(arch, num_classes=num_classes).eval(), arch, num_classes)


def _head_classes(state: dict) -> int | None:
    """Classes of the last dense layer in a state dict (``head.*.weight`` with 2 dims)."""
    weights = [v for k, v in state.items() if k.startswith("head.") and k.endswith("weight") and v.ndim == 2]
    return int(weights[-1].shape[0]) if weights else None


def load_checkpoint_model(path: str | Path, arch: str | None = None, num_classes: int | None = None) -> ModelSource:
    """The network in a Lightning checkpoint (``python cli.py fit``) or a plain state dict.

    The architecture and class count come from the checkpoint's ``hyper_parameters``; ``arch``
    (when given) must agree with it. A plain state dict needs ``arch``.

    Raises:
        CheckpointError: missing or unreadable file, another architecture than ``arch``,
            or weights that do not fit the architecture.
    """
    path = Path(path)
    obj = read_checkpoint(path)
    hp = checkpoint_hparams(obj)
    recorded = hp.get("arch")
    if arch is not None:
        check_name(arch)
    if recorded is not None and arch is not None and recorded != arch:
        raise CheckpointError(f"checkpoint {path} holds architecture {recorded!r}, not {arch!r} as asked")
    arch = recorded or arch
    if arch is None:
        raise CheckpointError(f"checkpoint {path} records no architecture; pass --arch")
    check_name(arch)
    state = checkpoint_state_dict(obj)
    classes = int(hp.get("num_classes") or num_classes or _head_classes(state) or 3)
    net = build_model(arch, num_classes=classes, **(hp.get("arch_kwargs") or {}))
    problem = describe_mismatch(state, net.state_dict())
    if problem:
        raise CheckpointError(f"checkpoint {path} does not fit {arch} with {classes} classes ({problem})")
    net.load_state_dict({k: state[k] for k in net.state_dict()})
    datamodule = obj.get("datamodule_hyper_parameters")
    return ModelSource(net.float().eval(), arch, classes, str(path), dict(datamodule) if datamodule else None)


def resolve_source(ckpt: str | None, arch: str | None, num_classes: int | None = None, seed: int = 0) -> ModelSource:
    """The checkpoint's network (checked against ``arch``) or ``arch`` with fresh weights."""
    if ckpt:
        return load_checkpoint_model(ckpt, arch, num_classes)
    if not arch:
        raise ExportError("give a checkpoint or an architecture name")
    return fresh_model(arch, num_classes or 3, seed)


# -- the images ----------------------------------------------------------------------------------

def _datamodule_classes() -> dict[str, type[InMemoryImageDataModule]]:
    """The datamodules a checkpoint may name, by class name."""
    from datamodules.cifar import CIFARDataModule
    from datamodules.fruits360 import Fruits360DataModule

    return {cls.__name__: cls for cls in (Fruits360DataModule, CIFARDataModule)}


def datamodule_from_hparams(hparams: dict[str, Any]) -> InMemoryImageDataModule:
    """Rebuild the datamodule a checkpoint was trained with (its ``datamodule_hyper_parameters``).

    Raises:
        CheckpointError: the recorded class is none of orchard's datamodules.
    """
    class_path = hparams.get("_class_path", "datamodules.Fruits360DataModule")
    known = _datamodule_classes()
    cls = known.get(class_path.rpartition(".")[2])
    if cls is None:
        raise CheckpointError(f"the checkpoint's datamodule {class_path!r} is none of {', '.join(known)}; "
                              "pass --data-root")
    return cls(**{k: v for k, v in hparams.items() if not k.startswith("_")})


def fruits360(root: str | Path = DEFAULT_DATA_ROOT, grouping: str | None = "apple_pear_noise",
              per_class: int | None = 400, seed: int = 0) -> InMemoryImageDataModule:
    """Study 2's data: Fruits-360 apple / pear / noise (or the synthetic sample)."""
    from datamodules.fruits360 import Fruits360DataModule

    return Fruits360DataModule(str(root), grouping=grouping, per_class=per_class, seed=seed, augment=False)


def build_datamodule(source: ModelSource | None = None, data_root: str | Path | None = None,
                     grouping: str | None = "apple_pear_noise", per_class: int | None = 400,
                     seed: int = 0) -> InMemoryImageDataModule:
    """The checkpoint's own datamodule when no root is given, else Fruits-360 at ``data_root``."""
    if data_root is None and source is not None and source.datamodule:
        return datamodule_from_hparams(source.datamodule)
    return fruits360(data_root or DEFAULT_DATA_ROOT, grouping=grouping, per_class=per_class, seed=seed)


def describe_data(dm: InMemoryImageDataModule) -> dict:
    """What export.json and reports record about the images used."""
    return {"datamodule": type(dm).__name__, "root": str(getattr(dm, "root", "")), "synthetic": bool(dm.synthetic),
            "classes": list(dm.class_names)}


def say_data(dm: InMemoryImageDataModule, stream: TextIO | None = None) -> None:
    """Tell the user which images the figures come from (loudly when they are synthetic)."""
    stream = stream or sys.stdout
    root = getattr(dm, "root", "?")
    if dm.synthetic:
        print(f"note: using SYNTHETIC images (procedurally generated, not Fruits-360) from {root}",
              file=stream)
    else:
        print(f"data: {root} ({dm.num_classes} classes: {', '.join(dm.class_names)})", file=stream)


# -- both, through the bridge --------------------------------------------------------------------

def export_from_source(source: ModelSource, out: str | Path, dm: InMemoryImageDataModule | None = None, *,
                       data_root: str | Path | None = None, grouping: str | None = "apple_pear_noise",
                       per_class: int | None = 400, calibration: int = DEFAULT_CALIBRATION_IMAGES,
                       test: int | None = None, precisions: tuple[str, ...] = PRECISIONS, seed: int = 0,
                       verbose: bool = True, thresholds: ParityThresholds | None = None) -> dict:
    """Export ``source`` into ``out``, judged on every real image of ``dm`` (built from the options if ``None``).

    ``dm``'s ``per_class`` cap does not apply to the judging: an uncapped twin of it gives every
    image (test split first, with labels), and ``calibration`` seeded training images.
    ``test`` caps how many images are judged (``None``: all of them). The output folder is
    checked before any image is decoded, and written by :func:`export.bridge.export_model`.
    """
    check_out_dir(out, EXPORT_OUTPUTS)
    dm = dm or build_datamodule(source, data_root, grouping, per_class, seed)
    if verbose:
        say_data(dm)
    full = uncapped(dm)
    same_task = dm.num_classes == source.num_classes
    data = eval_set(full, labelled=same_task)
    if test is not None and test < len(data):
        data = EvalSet(data.images[:test], None if data.labels is None else data.labels[:test], data.transform,
                       {"first": test})
    calib = full.sample_images(calibration, split="train")
    if not same_task and verbose:
        print(f"note: the data has {dm.num_classes} classes, the model {source.num_classes}: "
              "test accuracy is not measured, agreement with PyTorch still is")
    labels = list(dm.class_names) if same_task else [f"class_{i}" for i in range(source.num_classes)]
    transform = dm.transform
    info = {"labels": labels, "mean": [float(m) for m in transform.mean], "std": [float(v) for v in transform.std],
            "grouping": getattr(dm, "grouping", None) if same_task else None, "name": f"orchard {source.arch}",
            "arch": source.arch}
    extra = {**source.describe(), "data": describe_data(dm)}
    return export_model(source.net, out, calib, precisions=precisions, extra=extra,
                        thresholds=thresholds or ParityThresholds(), data=data,
                        fresh_weights=source.checkpoint is None, info=info)
