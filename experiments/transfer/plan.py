"""Study 1's protocol as a list of runs, and the LightningCLI arguments of each run.

Every run is ``python cli.py fit --config configs/<stage>.yaml`` with the study's overrides:
N scratch runs (seeds 0..N-1), stage 1 once, stage 2 once (from stage 1's last checkpoint),
N stage-3 runs (from stage 2's last checkpoint). Runs differ by ``seed_everything`` (weight
initialisation); the data sample, split and batch order stay those of data seed 0, so every
run is tested on the same images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import yaml

if TYPE_CHECKING:  # the trainer (torch, Lightning) is imported where a run is built, not for --help
    from lightning_modules.trainer import StageSettings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
STAGES = ("scratch", "stage1", "stage2", "stage3")
CONFIGS = {
    "scratch": "scratch_fruits3.yaml",
    "stage1": "stage1_cifar100.yaml",
    "stage2": "stage2_fruits.yaml",
    "stage3": "stage3_fruits3.yaml",
}
# Which stage's last checkpoint a stage starts from.
UPSTREAM = {"stage2": "stage1", "stage3": "stage2"}
REPEATED = ("scratch", "stage3")  # run N times; stages 1 and 2 run once


@dataclass
class StudyOptions:
    """Everything that decides what the study trains (and where it writes)."""

    n: int = 10
    arch: str = "alexnet"
    fruits_root: str = "data/fruits360-synthetic"
    cifar_root: str = "data/cifar-synthetic"
    cifar_dataset: str = "cifar100"
    epochs: dict[str, Optional[int]] = field(default_factory=lambda: dict.fromkeys(STAGES))
    per_class: Optional[int] = None  # the 3-class task (scratch, stage 3)
    stage2_per_class: Optional[int] = None
    cifar_per_class: Optional[int] = None
    batch_size: Optional[int] = None
    target_accuracy: float = 0.95
    out: Path = Path("reports/transfer")
    stages: tuple[str, ...] = STAGES
    fit_args: list[str] = field(default_factory=list)
    threads: Optional[int] = None  # torch intra-op threads (None: torch's default, one per core)
    workers: int = 1  # runs at once; above 1 (or with an address) they are Ray tasks
    ray_address: Optional[str] = None  # None: Ray starts on this machine when workers > 1
    gpus_per_run: float = 0  # GPUs each run reserves and trains on (at most one)

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"


@dataclass(frozen=True)
class RunSpec:
    """One training run of the study."""

    stage: str
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.stage}-seed{self.seed}"

    @property
    def upstream(self) -> Optional["RunSpec"]:
        return RunSpec(UPSTREAM[self.stage], 0) if self.stage in UPSTREAM else None


def plan(options: StudyOptions) -> list[RunSpec]:
    """The runs in protocol order: scratch x N, stage 1, stage 2, stage 3 x N."""
    runs = []
    for stage in STAGES:
        seeds = range(options.n) if stage in REPEATED else range(1)
        runs += [RunSpec(stage, seed) for seed in seeds]
    return runs


def config_epochs(stage: str) -> int:
    """``trainer.max_epochs`` of a stage's config file."""
    config = yaml.safe_load((CONFIG_DIR / CONFIGS[stage]).read_text())
    return int(config["trainer"]["max_epochs"])


def planned_epochs(spec: RunSpec, options: StudyOptions) -> int:
    return options.epochs.get(spec.stage) or config_epochs(spec.stage)


def stage_settings(spec: RunSpec, options: StudyOptions, init_from: Optional[Path]) -> StageSettings:
    """One run's settings on top of its stage's config; its files go to ``runs_dir/<run_id>/fit``."""
    from lightning_modules.trainer import StageSettings, gpu_args

    if spec.stage == "stage1":
        data: dict = {"root": options.cifar_root, "dataset": options.cifar_dataset}
        per_class = options.cifar_per_class
    else:
        data = {"root": options.fruits_root}
        per_class = options.stage2_per_class if spec.stage == "stage2" else options.per_class
    if per_class is not None:
        data["per_class"] = per_class
    if options.batch_size is not None:
        data["batch_size"] = options.batch_size
    model = {}
    if spec.upstream is not None:
        if init_from is None:
            raise ValueError(f"{spec.run_id} needs the checkpoint of {spec.upstream.run_id}")
        model["init_from"] = str(init_from)
    return StageSettings(arch=options.arch, seed=spec.seed, epochs=planned_epochs(spec, options), data=data,
                         model=model, log_dir=options.runs_dir, log_name=spec.run_id, log_version="fit",
                         extra_args=gpu_args(options.gpus_per_run) + list(options.fit_args))



def stage_config(spec: RunSpec) -> Path:
    """The config file of a run's stage."""
    return CONFIG_DIR / CONFIGS[spec.stage]


def fit_args(spec: RunSpec, options: StudyOptions, init_from: Optional[Path]) -> list[str]:
    """The LightningCLI arguments (no subcommand) of one run, as :func:`fit_stage` builds them."""
    from lightning_modules.trainer import cli_args

    return cli_args(stage_config(spec), stage_settings(spec, options, init_from))
