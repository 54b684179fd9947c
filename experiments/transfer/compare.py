"""Study 1 across architectures: one table and one figure, scratch vs stage 3 per architecture, the paper's AlexNet
figures beside ours (``experiment transfer --arch all``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from common.atomic import atomic_path, write_json_atomic, write_text_atomic

from .plan import StudyOptions
from .report import PAPER, PAPER_SPEEDUP, StageSummary, _pct, _ratio, _sec, speedups, summarize, threads_line

COLOURS = {"scratch": "#c0504d", "stage3": "#4f81bd", "paper": "#7f7f7f"}


def _frozen(summary: StageSummary) -> str:
    if not summary.runs:
        return "-"
    r = summary.runs[0]
    blocks = r.get("frozen_blocks") or []
    span = f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else (blocks[0] if blocks else "none")
    share = r.get("frozen_share")
    return f"{span} ({_share(share)})" if share is not None else span


def _share(share: float) -> str:
    return f"{100 * share:.1f} %" if share < 0.1 else f"{100 * share:.0f} %"


def arch_summary(records: list[dict[str, Any]], target: float, n: int) -> dict[str, Any]:
    """The comparison's numbers for one architecture (JSON-ready)."""
    summary = summarize(records, target)
    return {"stages": {s: v.as_dict() for s, v in summary.items()}, "speedups": speedups(summary, n),
            "frozen": {s: {"blocks": v.runs[0].get("frozen_blocks"), "share": v.runs[0].get("frozen_share")}
                       for s, v in summary.items() if s in ("stage2", "stage3") and v.runs}}


def render_comparison(archs: list[str], results: dict[str, list[dict]], failures: dict[str, str], machine: dict[str, Any],
                      options: StudyOptions, command: str) -> str:
    """``report.md`` of the comparison: one row per architecture, the paper's AlexNet row beside."""
    target, n = options.target_accuracy, options.n
    pct = f"{100 * target:g} %"
    records = [r for recs in results.values() for r in recs]
    versions = machine.get("versions", {})
    lines = [
        "# Study 1 for every architecture: staged transfer learning vs training from scratch", "",
        f"Command: `{command}`", "",
        f"Machine: {machine.get('cpu')} ({machine.get('cores')} cores; torch threads per run: {threads_line(records)}), "
        f"GPU: {machine.get('gpu') or 'none'}; torch {versions.get('torch')}, "
        f"pytorch-lightning {versions.get('pytorch-lightning')}.", "",
        f"The same protocol for each architecture (N = {n} scratch and stage-3 runs, one stage 1 and one stage 2), "
        "each in its own folder `<arch>/` with its full report (the paper's Tables 2-5). Train time is the "
        "`TrainingTimer`'s (training epochs only); test accuracy after the last epoch; time to target: training time "
        f"until validation accuracy first reached {pct}.", "",
        "Freeze points: the paper froze AlexNet's conv1-conv3 in stage 2 and conv1-conv4 in stage 3, that is every "
        "feature block but the last, then every feature block; each network gets the same rule on its own named "
        "blocks (`cli.py models`). In brackets: the share of the network's parameters frozen.", "",
        "## Training time", "",
        f"| architecture | scratch | stage 3 | speed-up | scratch to {pct} | stage 3 to {pct} | speed-up to {pct} | "
        f"N scratch / (stages 1+2 + N stage 3) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows_acc = []
    for arch in archs:
        if arch in failures and arch not in results:
            lines.append(f"| {arch} | failed: {failures[arch]} | | | | | | |")
            rows_acc.append(f"| {arch} | failed | | | | |")
            continue
        summary = summarize(results.get(arch, []), target)
        ratios = speedups(summary, n)
        sc, s3 = summary["scratch"], summary["stage3"]
        lines.append(f"| {arch} | {_sec(*sc.seconds)} | {_sec(*s3.seconds)} | **{_ratio(ratios['train_time'])}** | "
                     f"{_sec(*sc.to_target_seconds)} ({sc.as_dict()['reached_target']}/{len(sc.runs)}) | "
                     f"{_sec(*s3.to_target_seconds)} ({s3.as_dict()['reached_target']}/{len(s3.runs)}) | "
                     f"{_ratio(ratios['time_to_target'])} | {_ratio(ratios['with_stages_1_2'], 2)} |")
        gain = ratios["accuracy_gain_points"]
        rows_acc.append(f"| {arch} | {_frozen(summary['stage2'])} | {_frozen(summary['stage3'])} | "
                        f"{_pct(*sc.accuracy)} | {_pct(*s3.accuracy)} | {'-' if gain is None else f'{gain:+.1f}'} |")
    lines += [
        f"| *paper, alexnet (10 runs)* | *{PAPER['scratch']['minutes']} min* | *{PAPER['stage3']['minutes']} min* | "
        f"*{PAPER_SPEEDUP:.1f}x* | - | - | - | *{10 * 104.8 / (1449.7 + 310 + 10 * 8.5):.2f}x* |", "",
        "Time to target: mean over the runs that reached it (how many did in brackets; `-` when one did not).", "",
        "## Test accuracy and what was frozen", "",
        "| architecture | stage 2 frozen | stage 3 frozen | scratch test acc (%) | stage 3 test acc (%) | stage 3 - scratch (points) |",
        "|---|---|---|---|---|---|",
        *rows_acc,
        f"| *paper, alexnet* | *conv1-conv3* | *conv1-conv4* | *{100 * PAPER['scratch']['accuracy']:.1f}* | "
        f"*{100 * PAPER['stage3']['accuracy']:.1f}* | *+1.5* |", "",
        "Mean ± std over the seeds. The paper's times are minutes on its machine, ours seconds here: compare the ratios.",
    ]
    if failures:
        lines += ["", "## Failed", ""] + [f"- `{a}`: {m}" for a, m in failures.items()]
    if any(r["data"]["synthetic"] for r in records):
        lines += ["", "**Trained on SYNTHETIC data** (procedurally generated, not Fruits-360 / CIFAR photographs)."]
    return "\n".join(lines) + "\n"


def plot_comparison(archs: list[str], results: dict[str, list[dict]], path: Path, target: float, n: int) -> Path:
    """Three panels per architecture: mean train time (scratch vs stage 3), test accuracy, speed-up (paper's line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [a for a in archs if results.get(a)]
    fig, (ax_time, ax_acc, ax_speed) = plt.subplots(1, 3, figsize=(15, 4.4))
    fig.suptitle("Study 1 per architecture: scratch vs stage 3 of transfer learning")
    xs = list(range(len(shown)))
    speeds = []
    for i, arch in enumerate(shown):
        summary = summarize(results[arch], target)
        for stage, offset in (("scratch", -0.2), ("stage3", 0.2)):
            (t, t_sd), (a, a_sd) = summary[stage].seconds, summary[stage].accuracy
            label = ("scratch" if stage == "scratch" else "stage 3") if i == 0 else None
            if t is not None:
                ax_time.bar(i + offset, t, 0.4, yerr=t_sd, color=COLOURS[stage], label=label)
            if a is not None:
                ax_acc.bar(i + offset, 100 * a, 0.4, yerr=100 * (a_sd or 0), color=COLOURS[stage], label=label)
        speeds.append(speedups(summary, n)["train_time"] or 0.0)
    for ax in (ax_time, ax_acc, ax_speed):
        ax.set_xticks(xs, shown, rotation=15)
    ax_time.set(title="mean train time (s)", ylabel="seconds")
    ax_time.legend(fontsize=8)
    ax_acc.set(title="mean test accuracy", ylabel="%", ylim=(max(0, min([70] + [b.get_height() for b in ax_acc.patches]) - 5), 100))
    for stage in ("scratch", "stage3"):
        ax_acc.axhline(100 * PAPER[stage]["accuracy"], color=COLOURS[stage], ls="--", lw=1)
    ax_acc.legend(fontsize=8, title="dashed: paper, alexnet", title_fontsize=7)
    ax_speed.bar(xs, speeds, color=COLOURS["stage3"])
    for x, v in zip(xs, speeds):
        ax_speed.text(x, v, f"{v:.1f}x", ha="center", va="bottom")
    ax_speed.axhline(PAPER_SPEEDUP, color=COLOURS["paper"], ls="--", label=f"paper, alexnet: {PAPER_SPEEDUP:.1f}x")
    ax_speed.set(title="speed-up: scratch time / stage 3 time", ylabel="x")
    ax_speed.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def write_comparison(options: StudyOptions, archs: list[str], results: dict[str, list[dict]], failures: dict[str, str],
                     machine: dict[str, Any], command: str) -> None:
    """``report.md``, ``results.json`` and ``comparison.png`` of the comparison into ``--out``."""
    summaries = {a: arch_summary(results[a], options.target_accuracy, options.n) for a in archs if a in results}
    write_json_atomic(options.out / "results.json", {
        "machine": machine, "command": command, "architectures": archs, "summary": summaries, "failures": failures,
        "folders": {a: a for a in archs}, "paper_alexnet": PAPER, "paper_speedup": PAPER_SPEEDUP})
    write_text_atomic(options.out / "report.md", render_comparison(archs, results, failures, machine, options, command))
    if any(results.get(a) for a in archs):
        plot_comparison(archs, results, options.out / "comparison.png", options.target_accuracy, options.n)

