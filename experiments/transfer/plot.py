"""The study's figure: train time and test accuracy per run, scratch vs transfer, the paper's figures beside."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from common.atomic import atomic_path

from .report import PAPER, PAPER_SPEEDUP, speedups, summarize

COLOURS = {"scratch": "#c0504d", "stage3": "#4f81bd", "paper": "#7f7f7f"}


def plot_study(records: list[dict[str, Any]], path: str | Path, target: float, n: int) -> Path:
    """Write a PNG with three panels: time per run, accuracy per run, and the speedup (ours vs paper)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(records, target)
    fig, (ax_time, ax_acc, ax_speed) = plt.subplots(1, 3, figsize=(14, 4.2))
    synthetic = any(r["data"]["synthetic"] for r in records)
    fig.suptitle("Study 1: training from scratch vs stage 3 of transfer learning" + (" (SYNTHETIC data)" if synthetic else ""))
    for stage, label in (("scratch", "scratch"), ("stage3", "transfer (stage 3)")):
        runs = sorted(summary[stage].runs, key=lambda r: r["seed"])
        if not runs:
            continue
        seeds = [r["seed"] + 1 for r in runs]
        offset = -0.2 if stage == "scratch" else 0.2
        ax_time.bar([s + offset for s in seeds], [r["train_seconds"] for r in runs], width=0.4,
                    color=COLOURS[stage], label=label)
        ax_acc.plot(seeds, [100 * r["test_accuracy"] for r in runs], "o-", color=COLOURS[stage], label=f"{label}, ours")
        ax_acc.axhline(100 * PAPER[stage]["accuracy"], color=COLOURS[stage], ls="--", lw=1,
                       label=f"{label}, paper mean {100 * PAPER[stage]['accuracy']:.1f} %")
    runs_shown = max([r["seed"] + 1 for r in records if r["stage"] in ("scratch", "stage3")], default=1)
    paper_x = runs_shown + 1.5
    ax_paper = ax_time.twinx()  # the paper's means, in its minutes, beside our runs
    for stage, offset in (("scratch", -0.2), ("stage3", 0.2)):
        ax_paper.bar(paper_x + offset, PAPER[stage]["minutes"], width=0.4, color=COLOURS[stage], alpha=0.45, hatch="//")
        ax_paper.text(paper_x + offset, PAPER[stage]["minutes"], f"{PAPER[stage]['minutes']:g}", ha="center", va="bottom", fontsize=7)
    ax_paper.set_ylabel("paper, minutes (hatched)", color=COLOURS["paper"])
    ax_time.set_xticks(list(range(1, runs_shown + 1)) + [paper_x], [str(i) for i in range(1, runs_shown + 1)] + ["paper\nmean"])
    ax_time.set(title="train time per run (ours: seconds; paper: minutes)", xlabel="run", ylabel="ours, seconds")
    ax_time.legend(loc="best", fontsize=8)
    ax_acc.set_xticks(list(range(1, runs_shown + 1)))
    ax_acc.set(title="test accuracy per run", xlabel="run", ylabel="%")
    ax_acc.legend(fontsize=7, loc="best", framealpha=0.6)
    ours = speedups(summary, n)["train_time"]
    bars = [("paper", PAPER_SPEEDUP, COLOURS["paper"])] + ([("ours", ours, COLOURS["stage3"])] if ours else [])
    ax_speed.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    for i, (_, value, _) in enumerate(bars):
        ax_speed.text(i, value, f"{value:.1f}x", ha="center", va="bottom")
    ax_speed.set(title="speedup: scratch time / stage 3 time", ylabel="x")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
