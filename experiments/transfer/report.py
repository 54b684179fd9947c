"""Study 1's numbers: per-stage summaries, time to target accuracy, and ``report.md`` laid out like the
paper's Tables 2-5 with the paper's figures beside ours."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from statistics import mean, stdev
from typing import Any, Optional

from .plan import STAGES

# The paper's figures (minutes, test accuracy, runs).
PAPER = {
    "scratch": {"minutes": 104.8, "accuracy": 0.950, "runs": 10, "data": "apple / pear / noise (Fruits-360, 400 per class)"},
    "stage1": {"minutes": 1449.7, "accuracy": 0.471, "runs": 1, "data": "CIFAR-100"},
    "stage2": {"minutes": 310.0, "accuracy": 0.987, "runs": 1, "data": "Fruits-360, ~120 classes"},
    "stage3": {"minutes": 8.5, "accuracy": 0.965, "runs": 10, "data": "apple / pear / noise (Fruits-360, 400 per class)"},
}
PAPER_SPEEDUP = PAPER["scratch"]["minutes"] / PAPER["stage3"]["minutes"]  # 12.3: the paper's "12x faster"
TITLES = {
    "scratch": "Table 2 - training from scratch: apple / pear / noise, every layer trains",
    "stage1": "Table 3 - stage 1: CIFAR-100, every layer trains",
    "stage2": "Table 4 - stage 2: Fruits-360, all classes; every feature block but the last frozen (the paper: conv1-conv3), new head",
    "stage3": "Table 5 - stage 3: apple / pear / noise; every feature block frozen (the paper: conv1-conv4), new classifier",
}


def time_to_target(record: dict[str, Any], target: float) -> Optional[tuple[float, int]]:
    """``(train seconds, epochs)`` until validation accuracy first reached ``target``; ``None`` if never."""
    cumulative = list(accumulate(record.get("epoch_seconds", [])))
    for epoch, (acc, seconds) in enumerate(zip(record.get("val_accuracy", []), cumulative), start=1):
        if acc >= target:
            return seconds, epoch
    return None


@dataclass
class StageSummary:
    """Mean and spread of one stage's runs."""

    stage: str
    runs: list[dict[str, Any]]
    target: float

    @staticmethod
    def _mean_std(values: list[float]) -> tuple[Optional[float], Optional[float]]:
        if not values:
            return None, None
        return mean(values), (stdev(values) if len(values) > 1 else 0.0)

    @property
    def seconds(self) -> tuple[Optional[float], Optional[float]]:
        return self._mean_std([r["train_seconds"] for r in self.runs])

    @property
    def accuracy(self) -> tuple[Optional[float], Optional[float]]:
        return self._mean_std([r["test_accuracy"] for r in self.runs])

    @property
    def to_target(self) -> list[Optional[tuple[float, int]]]:
        return [time_to_target(r, self.target) for r in self.runs]

    @property
    def to_target_seconds(self) -> tuple[Optional[float], Optional[float]]:
        """Mean time to target over the runs that reached it (``None`` if any did not)."""
        hits = self.to_target
        if not hits or any(h is None for h in hits):
            return None, None
        return self._mean_std([h[0] for h in hits])

    def as_dict(self) -> dict[str, Any]:
        (s, s_sd), (a, a_sd), (t, t_sd) = self.seconds, self.accuracy, self.to_target_seconds
        return {"runs": len(self.runs), "train_seconds_mean": s, "train_seconds_std": s_sd, "test_accuracy_mean": a,
                "test_accuracy_std": a_sd, "time_to_target_seconds_mean": t, "time_to_target_seconds_std": t_sd,
                "reached_target": sum(h is not None for h in self.to_target)}


def summarize(records: list[dict[str, Any]], target: float) -> dict[str, StageSummary]:
    return {stage: StageSummary(stage, [r for r in records if r["stage"] == stage], target) for stage in STAGES}


def speedups(summary: dict[str, StageSummary], n: int) -> dict[str, Optional[float]]:
    """Scratch vs stage 3: train time ratio, time-to-target ratio, and the ratio with stages 1-2 counted in."""
    scratch, stage3 = summary["scratch"], summary["stage3"]
    s_mean, t_mean = scratch.seconds[0], stage3.seconds[0]
    out: dict[str, Optional[float]] = {"train_time": s_mean / t_mean if s_mean and t_mean else None}
    s_tt, t_tt = scratch.to_target_seconds[0], stage3.to_target_seconds[0]
    out["time_to_target"] = s_tt / t_tt if s_tt and t_tt else None
    one_off = [summary[s].seconds[0] for s in ("stage1", "stage2")]
    if s_mean and t_mean and all(one_off):
        out["with_stages_1_2"] = (n * s_mean) / (sum(one_off) + n * t_mean)
    else:
        out["with_stages_1_2"] = None
    a, b = scratch.accuracy[0], stage3.accuracy[0]
    out["accuracy_gain_points"] = 100 * (b - a) if a is not None and b is not None else None
    return out


# -- markdown ------------------------------------------------------------------------------
def _pct(value: Optional[float], sd: Optional[float] = None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f} ± {100 * sd:.1f}" if sd is not None else f"{100 * value:.1f}"


def _sec(value: Optional[float], sd: Optional[float] = None) -> str:
    """``5.4 ± 0.2 s``; below a second two decimals (``0.28 ± 0.01 s``), so stage 3's times keep their digits."""
    if value is None:
        return "-"
    digits = 2 if round(abs(value), 2) < 1 else 1
    return f"{value:.{digits}f} ± {sd:.{digits}f} s" if sd is not None else f"{value:.{digits}f} s"


def _ratio(value: Optional[float], digits: int = 1) -> str:
    return f"{value:.{digits}f}x" if value is not None else "-"


def _stage_table(s: StageSummary, target: float, title: str) -> list[str]:
    paper = PAPER[s.stage]
    lines = [f"### {title}", "",
             f"| Run | Seed | Epochs | Train time | Test accuracy (%) | Time to {100 * target:g} % val acc | Threads |",
             "|---|---|---|---|---|---|---|"]
    for i, (r, hit) in enumerate(zip(sorted(s.runs, key=lambda r: r["seed"]), s.to_target), start=1):
        reached = f"{_sec(hit[0])} (epoch {hit[1]})" if hit else "not reached"
        resumed = f" (resumed at epoch {r['resumed_from_epoch']})" if r.get("resumed_from_epoch") else ""
        lines.append(f"| {i} | {r['seed']} | {r['epochs']} | {_sec(r['train_seconds'])}{resumed} | "
                     f"{_pct(r['test_accuracy'])} | {reached} | {r.get('threads', '?')} |")
    if len(s.runs) > 1:
        (m, sd), (a, a_sd), (t, t_sd) = s.seconds, s.accuracy, s.to_target_seconds
        lines.append(f"| **mean ± std** | | | **{_sec(m, sd)}** | **{_pct(a, a_sd)}** | {_sec(t, t_sd)} | |")
    runs = f"{paper['runs']} runs, mean" if paper["runs"] > 1 else "1 run"
    lines.append(f"| *paper ({runs})* | | | *{paper['minutes']:,.1f} min* | *{100 * paper['accuracy']:.1f}* | | |")
    frozen = s.runs[0].get("frozen_blocks") if s.runs else None
    if frozen:
        share = s.runs[0].get("frozen_share")
        lines += ["", f"Frozen: {', '.join(frozen)}" + (f" ({100 * share:.0f} % of the parameters)." if share is not None else ".")]
    return lines + [""]


def threads_line(records: list[dict[str, Any]]) -> str:
    """Each run's own torch thread count, e.g. ``1`` or ``1 (6 runs), 2 (2 runs)``."""
    counts: dict[str, int] = {}
    for r in records:
        counts[str(r.get("threads", "?"))] = counts.get(str(r.get("threads", "?")), 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), "?")
    return ", ".join(f"{k} ({v} runs)" for k, v in counts.items())


def _data_line(summary: dict[str, StageSummary], stage: str) -> str:
    runs = summary[stage].runs
    if not runs:
        return "not run"
    d = runs[0]["data"]
    synthetic = " **SYNTHETIC**" if d["synthetic"] else ""
    return (f"`{d['root']}` ({d['dataset']}{synthetic}): {runs[0]['num_classes']} classes, "
            f"{d['train_images']} training / {d['test_images']} test images")


def _feature_cache_note(runs: list[dict[str, Any]]) -> list[str]:
    """A line saying how much of stage 3's train time built the frozen-feature cache (none when it was off)."""
    on = [r["feature_cache"] for r in runs if (r.get("feature_cache") or {}).get("on")]
    if not on:
        return []
    blocks = f"{on[0]['blocks'][0]}-{on[0]['blocks'][-1]}"
    return [f"Stage 3 ran with the frozen-feature cache: {blocks} computed once for {on[0]['images']} train/val images, "
            f"{mean(c['seconds'] for c in on):.2f} s on average, counted in its train time "
            "(`--fit-arg=--model.feature_cache=false` turns it off).", ""]


def _engine_lines(engine: Optional[dict[str, Any]]) -> list[str]:
    if not engine or engine.get("engine") != "ray":
        return ["Runs: one after another in one process.", ""]
    return [f"Runs: Ray {engine.get('ray_version')} ({engine.get('address')}, {engine.get('nodes')} node(s), "
            f"{engine.get('cluster_cpus')} CPUs), {engine.get('workers')} at once with {engine.get('threads_per_run')} "
            f"thread(s) each; each run's host and worker are in `results.json`.", ""]


def _failure_lines(failures: Optional[dict[str, str]]) -> list[str]:
    if not failures:
        return []
    return ["## Failed runs", "", "| run | reason |", "|---|---|",
            *[f"| {key} | {reason} |" for key, reason in failures.items()], ""]


def render_report(records: list[dict[str, Any]], machine: dict[str, Any], options: dict[str, Any], command: str,
                  engine: Optional[dict[str, Any]] = None, failures: Optional[dict[str, str]] = None) -> str:
    """``report.md``: the paper's Tables 2-5 with our runs beside the paper's figures, then the speedups.

    ``engine`` (where the runs executed) and ``failures`` (run -> reason) add their own lines.
    """
    target = options["target_accuracy"]
    summary = summarize(records, target)
    ratios = speedups(summary, options["n"])
    gain = "-" if ratios["accuracy_gain_points"] is None else f"{ratios['accuracy_gain_points']:+.1f}"
    versions = machine.get("versions", {})
    stage1_data = summary["stage1"].runs[0]["data"]["dataset"] if summary["stage1"].runs else options["cifar_dataset"]
    lines = [
        "# Study 1: staged transfer learning vs training from scratch", "",
        f"Command: `{command}`", "",
        f"Machine: {machine.get('cpu')} ({machine.get('cores')} cores; torch threads per run: {threads_line(records)}), "
        f"GPU: {machine.get('gpu') or 'none'}; "
        f"torch {versions.get('torch')}, pytorch-lightning {versions.get('pytorch-lightning')}, Python {machine.get('python')}.", "",
        *_engine_lines(engine),
        f"Architecture `{options['arch']}`. Train time is the `TrainingTimer`'s: training epochs only, validation and "
        "testing excluded. Test accuracy is read after the last epoch (the paper's fixed-epoch reading); "
        f"time to target is the training time until validation accuracy first reached {100 * target:g} %.", "",
        "Data:", "",
        f"- scratch and stage 3: {_data_line(summary, 'scratch' if summary['scratch'].runs else 'stage3')}",
        f"- stage 1: {_data_line(summary, 'stage1')}"
        + (" - CIFAR-10 standing in for CIFAR-100" if stage1_data == "cifar10" else ""),
        f"- stage 2: {_data_line(summary, 'stage2')}", "",
        "The paper's times are minutes on its own machine; ours are seconds here. Compare the ratios.", "",
        "## Tables", "",
    ]
    titles = dict(TITLES)
    if stage1_data == "cifar10":
        titles["stage1"] += " (here CIFAR-10 stands in)"
    for stage in STAGES:
        lines += _stage_table(summary[stage], target, titles[stage])
    lines += [
        "## Speedup", "",
        "| | ours | paper |", "|---|---|---|",
        f"| scratch mean train time / stage 3 mean train time | {_ratio(ratios['train_time'])} | "
        f"{PAPER_SPEEDUP:.1f}x (104.8 / 8.5 min: \"12x faster\") |",
        f"| time to {100 * target:g} % val acc (equal quality): scratch / stage 3 | {_ratio(ratios['time_to_target'])} | "
        f"{PAPER_SPEEDUP:.1f}x (the paper gives total times only) |",
        f"| N scratch runs / (stage 1 + stage 2 + N stage-3 runs), N = {options['n']} | {_ratio(ratios['with_stages_1_2'])} | "
        f"{10 * 104.8 / (1449.7 + 310 + 10 * 8.5):.2f}x (N = 10) |",
        f"| test accuracy, stage 3 - scratch (points) | {gain} | +1.5 |",
        "",
        *_failure_lines(failures),
        "Stages 1 and 2 are paid once; every further task that starts from stage 2 costs only a stage-3 run.", "",
        *_feature_cache_note(summary["stage3"].runs),
        "Each run's files (config.yaml, metrics.csv, timing.json, checkpoints/) are in `runs/<stage>-seed<N>/fit/`; "
        "rerun one by hand with `python cli.py fit --config runs/<run>/fit/config.yaml`.",
    ]
    return "\n".join(lines) + "\n"
