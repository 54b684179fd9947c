"""Turn the per-process measurements of ``benchmark frameworks`` into results.json, report.md and a chart."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Optional

TRAINING_KINDS = ("lightning", "pytorch", "keras")
LABELS = {"lightning": "Lightning (ImageClassifier + Trainer)", "pytorch": "plain PyTorch loop", "keras": "Keras (TF 2.19)"}


def spread(values: list[Optional[float]]) -> dict[str, Any]:
    """``{"min", "median", "max", "values"}`` over the repeats (``None`` entries when nothing was measured)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"min": None, "median": None, "max": None, "values": []}
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals), "values": vals}


def paired_ratios(numerator: list[Optional[float]], denominator: list[Optional[float]]) -> dict[str, Any]:
    """Repeat-by-repeat ratios (repeat ``r`` of A over repeat ``r`` of B, measured back to back)."""
    return spread([a / b if a is not None and b else None for a, b in zip(numerator, denominator)])


def steady_state(run: dict[str, Any]) -> dict[str, Any]:
    """Split one training run into start-up, first epoch and steady state (the epochs after the first)."""
    seconds = list(run["epoch_seconds"])
    images_per_epoch = run["images"] / max(run["epochs"], 1)
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {
        "images_per_epoch": images_per_epoch,
        "steady_epoch_seconds": steady,
        "steady_images_per_second": images_per_epoch / steady if steady > 0 else None,
        "first_epoch_seconds": seconds[0],
        "first_epoch_overhead_seconds": seconds[0] - steady,
        "startup_seconds": run.get("startup_seconds"),
        "all_epochs_images_per_second": run["images_per_second"],
    }


def summarise_training(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per framework: every figure with min / median / max over the repeats."""
    out: dict[str, Any] = {}
    for kind, kind_runs in runs.items():
        parts = [steady_state(r) for r in kind_runs]
        batch_sizes = sorted({b for r in kind_runs for b in r.get("inference_images_per_second", {})}, key=int)
        out[kind] = {
            "label": LABELS.get(kind, kind),
            "training_images_per_second": spread([p["steady_images_per_second"] for p in parts]),
            "epoch_seconds": spread([p["steady_epoch_seconds"] for p in parts]),
            "first_epoch_seconds": spread([p["first_epoch_seconds"] for p in parts]),
            "first_epoch_overhead_seconds": spread([p["first_epoch_overhead_seconds"] for p in parts]),
            "startup_seconds": spread([p["startup_seconds"] for p in parts]),
            "images_per_epoch": parts[0]["images_per_epoch"] if parts else None,
            "inference_images_per_second": {
                b: spread([r["inference_images_per_second"].get(b) for r in kind_runs]) for b in batch_sizes
            },
            "peak_rss_mb": spread([r["peak_rss_mb"] for r in kind_runs]),
            "training_rss_mb": spread([r["peak_rss_mb"] - r["rss_after_import_mb"] for r in kind_runs]),
            "rss_after_import_mb": spread([r["rss_after_import_mb"] for r in kind_runs]),
            "val_acc": spread([r.get("val_acc") for r in kind_runs]),
        }
    return out


def training_ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Throughput ratios (higher: the numerator is faster), paired by repeat."""
    ips = {k: [steady_state(r)["steady_images_per_second"] for r in v] for k, v in runs.items()}
    ratios = {
        "lightning_over_keras": paired_ratios(ips["lightning"], ips["keras"]),
        "lightning_over_pytorch": paired_ratios(ips["lightning"], ips["pytorch"]),
        "pytorch_over_keras": paired_ratios(ips["pytorch"], ips["keras"]),
    }
    for b in sorted({b for r in runs["lightning"] for b in r.get("inference_images_per_second", {})}, key=int):
        inf = {k: [r["inference_images_per_second"].get(b) for r in v] for k, v in runs.items()}
        ratios[f"inference_b{b}_lightning_over_keras"] = paired_ratios(inf["lightning"], inf["keras"])
        ratios[f"inference_b{b}_pytorch_over_keras"] = paired_ratios(inf["pytorch"], inf["keras"])
        ratios[f"inference_b{b}_lightning_over_pytorch"] = paired_ratios(inf["lightning"], inf["pytorch"])
    return ratios


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _mmm(s: dict[str, Any], spec: str = ".2f") -> str:
    if s.get("median") is None:
        return "-"
    return f"{_fmt(s['median'], spec)} ({_fmt(s['min'], spec)} to {_fmt(s['max'], spec)})"


def report_markdown(results: dict[str, Any]) -> str:
    """The human-readable report (every figure: median, then min to max over the repeats)."""
    s, r, cfg = results["training"], results["ratios"], results["config"]
    lines = [
        f"# Framework overhead: Lightning vs plain PyTorch vs Keras ({cfg['arch']}, batch {cfg['batch_size']})",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores; {cfg['threads']} threads per "
        f"framework, each measurement in its own process; {cfg['repeats']} repeats in rotating order "
        f"({', '.join(results['schedule'][:3])} ...). Load average before / after: "
        f"{results['load_average']['before']} / {results['load_average']['after']}.",
        f"Data: {results['data']['root']} ({'SYNTHETIC' if results['data']['synthetic'] else 'real images'}), "
        f"{len(results['data']['classes'])} classes, {results['data']['images']['train']} training images, "
        f"{cfg['epochs']} epochs per run (validation every epoch, not timed).",
        "",
        "Figures: median (min to max) over the repeats. Throughput ratios: higher = the first one is faster.",
        "",
        "## Ratios",
        "",
        "| ratio | median | min | max | per repeat |",
        "|---|---|---|---|---|",
    ]
    for name, v in r.items():
        per_repeat = ", ".join(f"{x:.2f}" for x in v.get("values", []))
        lines.append(f"| {name} | {_fmt(v['median'], '.3f')} | {_fmt(v['min'], '.3f')} | {_fmt(v['max'], '.3f')} | {per_repeat} |")
    lines += ["", "## Training and inference", "",
              "| | training img/s (steady) | epoch s (steady) | first-epoch overhead s | start-up s | "
              + " | ".join(f"inference b{b} img/s" for b in cfg["infer"]) + " | peak RSS MB | RSS added by the run MB |",
              "|---|---|---|---|---|" + "---|" * len(cfg["infer"]) + "---|---|"]
    for kind, v in s.items():
        inf = " | ".join(_mmm(v["inference_images_per_second"].get(str(b), {}), ".0f") for b in cfg["infer"])
        lines.append(f"| {v['label']} | {_mmm(v['training_images_per_second'], '.0f')} | {_mmm(v['epoch_seconds'])} | "
                     f"{_mmm(v['first_epoch_overhead_seconds'])} | {_mmm(v['startup_seconds'], '.1f')} | {inf} | "
                     f"{_mmm(v['peak_rss_mb'], '.0f')} | {_mmm(v['training_rss_mb'], '.0f')} |")
    lim = results.get("limits", {})
    if lim:
        lines += ["", "## What limits it", "",
                  f"Forward FLOPs per image: {lim['forward_flops_per_image'] / 1e6:.1f} M (a training step, layer "
                  f"by layer: {lim['training_flops_per_image'] / 1e6:.1f} M). Measured float32 matmul peak with "
                  f"{cfg['threads']} threads, sampled between the epochs: "
                  f"{_fmt(lim.get('matmul_gflops'), '.1f')} GFLOP/s sustained over back-to-back products "
                  f"(median; the fastest single product: {_fmt(lim.get('matmul_gflops_best'), '.1f')}; bfloat16 "
                  f"sustained: {_fmt(lim.get('matmul_gflops_bf16'), '.1f')}). Each run's share is taken against "
                  "its own repeat's sustained peak (both sides: work over wall time).", ""]
        for kind, g in lim.get("achieved_training_gflops", {}).items():
            lines.append(f"- {LABELS[kind]}: {_fmt(g, '.1f')} GFLOP/s achieved in training "
                         f"({_fmt(lim['fraction_of_peak'].get(kind), '.0%')} of the sustained matmul peak, "
                         f"{_fmt(lim.get('fraction_of_best_peak', {}).get(kind), '.0%')} of the fastest product)")
    tfl = results.get("tflite")
    if tfl:
        lines += ["", "## TFLite: our bridge vs the Keras-native converter (same trained weights, float32, batch 1)", ""]
        if not tfl.get("available"):
            lines.append(f"Not measured: {tfl.get('reason')}")
        else:
            lines += ["| | invoke latency ms | ops | size bytes |", "|---|---|---|---|"]
            for route in ("bridge", "keras_native"):
                t = tfl[route]
                ops = ", ".join(f"{k} {v}" for k, v in t["ops"].items())
                lines.append(f"| {route} | {_mmm(t['latency_ms'], '.3f')} | {sum(t['ops'].values())}: {ops} | {t['bytes']} |")
            lines += ["", "Output agreement on the same test images: "
                      + "; ".join(f"{k}: max |diff| {v['max_abs_diff']:.2e}, top-1 agreement {v['top1_agreement']:.0%}"
                                  for k, v in tfl["agreement"].items())]
    notes = results.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_chart(results: dict[str, Any], path: Path) -> Path:
    """Training and inference throughput per framework (median bars, min-max whiskers), TFLite latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, cfg = results["training"], results["config"]
    kinds = [k for k in TRAINING_KINDS if k in s]
    panels = [("training img/s", [s[k]["training_images_per_second"] for k in kinds])]
    for b in cfg["infer"]:
        panels.append((f"inference b{b} img/s", [s[k]["inference_images_per_second"].get(str(b), {}) for k in kinds]))
    tfl = results.get("tflite") or {}
    has_tflite = bool(tfl.get("available"))
    fig, axes = plt.subplots(1, len(panels) + has_tflite, figsize=(4 * (len(panels) + has_tflite), 3.6))
    colors = {"lightning": "#792ee5", "pytorch": "#ee4c2c", "keras": "#ff8f00", "bridge": "#2e7d32", "keras_native": "#ff8f00"}

    def bars(ax, names, stats, title):
        med = [st.get("median") or 0 for st in stats]
        err = [[m - (st.get("min") or m) for m, st in zip(med, stats)], [(st.get("max") or m) - m for m, st in zip(med, stats)]]
        ax.bar(names, med, yerr=err, capsize=4, color=[colors.get(n, "grey") for n in names])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)

    for ax, (title, stats) in zip(axes, panels):
        bars(ax, kinds, stats, title)
    if has_tflite:
        bars(axes[-1], ["bridge", "keras_native"], [tfl["bridge"]["latency_ms"], tfl["keras_native"]["latency_ms"]],
             "TFLite invoke ms (lower is better)")
    fig.suptitle(f"{cfg['arch']}, batch {cfg['batch_size']}, {cfg['threads']} threads (median, min-max)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
