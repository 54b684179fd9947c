"""``report.md``, the bar chart and the Android ``benchmark_model`` commands for a latency run."""
from __future__ import annotations

from pathlib import Path

from lightning_modules.architectures import PAPER_TRAINABLE_PARAMS

NOT_GIVEN = "paper value not given"
DEVICE_DIR = "/data/local/tmp/orchard"
BENCHMARK_BINARY_URL = ("https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/"
                        "nightly/latest/android_aarch64_benchmark_model")


def android_commands(results: dict) -> list[str]:
    """Shell lines that time the same ``.tflite`` files on an Android phone with TFLite's ``benchmark_model``."""
    s = results["settings"]
    lines = [
        f"# once: the prebuilt benchmark binary (arm64) -> {DEVICE_DIR}",
        f"curl -L -o benchmark_model {BENCHMARK_BINARY_URL}",
        f"adb shell mkdir -p {DEVICE_DIR}",
        f"adb push benchmark_model {DEVICE_DIR}/benchmark_model",
        f"adb shell chmod +x {DEVICE_DIR}/benchmark_model",
    ]
    for model in results["models"]:
        for precision, local in model["tflite"].items():
            remote = f"{DEVICE_DIR}/{model['name']}_{precision}.tflite"
            lines.append(f"# {model['name']} {precision}")
            lines.append(f"adb push {local} {remote}")
            for threads in s["threads"]:
                lines.append(
                    f"adb shell {DEVICE_DIR}/benchmark_model --graph={remote} --num_threads={threads} "
                    f"--warmup_runs={s['warmup']} --warmup_min_secs=0 --num_runs={s['runs']} --min_secs=0 "
                    "--use_xnnpack=true")
    return lines


def _mb(n: int | None) -> str:
    return f"{n / 1e6:.3f} MB" if n else "—"


def _pct(x: float | None) -> str:
    return f"{x:.1%}" if x is not None else "—"


def table1(results: dict) -> list[str]:
    """Paper 2's Table 1 for our models: parameters, file size, accuracy."""
    rows = ["| Model | Params (ours) | Params (paper) | float32 .tflite | int8 .tflite | Accuracy PyTorch | "
            "Accuracy TFLite float32 | Accuracy TFLite int8 | Paper file size / accuracy |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for m in results["models"]:
        paper = PAPER_TRAINABLE_PARAMS.get(m["name"])
        params = f"{m['params']:,}" if m["params"] else "—"
        acc = m.get("test_accuracy", {})
        rows.append(
            f"| {m['name']} | {params} | {f'{paper:,}' if paper else NOT_GIVEN} | "
            f"{_mb(m['bytes'].get('float32'))} | {_mb(m['bytes'].get('int8'))} | {_pct(acc.get('pytorch'))} | "
            f"{_pct(acc.get('float32'))} | {_pct(acc.get('int8'))} | {NOT_GIVEN} |")
    return rows


def latency_table(results: dict) -> list[str]:
    rows = ["| Model | Runtime | Precision | Threads | Mean ms | Median ms | p90 ms | Std ms | Min ms | Max ms |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["results"]:
        rows.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['threads']} | {r['mean_ms']:.2f} | "
                    f"{r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['std_ms']:.2f} | {r['min_ms']:.2f} | "
                    f"{r['max_ms']:.2f} |")
    return rows


def export_table(results: dict) -> list[str]:
    """Parity figures and export time of the models that came with an ``export.json``."""
    rows = ["| Model | ONNX Runtime max abs diff | float32 max abs diff | float16 max abs diff (logits / probs) | "
            "int8 top-1 agreement | Export s | float32 ops |", "|---|---:|---:|---:|---:|---:|---|"]
    for m in results["models"]:
        e = m.get("export")
        if not e:
            continue
        par = e["parity"]
        f16 = par.get("float16")
        f16_text = f"{f16['max_abs_diff']:.1e} / {f16['max_abs_diff_probs']:.1e}" if f16 else "—"
        ops = ", ".join(f"{k} {v}" for k, v in (e.get("float32_ops") or {}).items())
        rows.append(f"| {m['name']} | {e['onnx_max_abs_diff']:.1e} | {par.get('float32', {}).get('max_abs_diff', 0):.1e} | "
                    f"{f16_text} | {_pct(par.get('int8', {}).get('top1_agreement'))} | {e['seconds']['total']:.1f} | {ops} |")
    return rows if len(rows) > 2 else []


def training_table(results: dict) -> list[str]:
    """Training figures of ``experiment latency`` (absent for a plain benchmark)."""
    rows = ["| Model | Epochs | Train time s | Images/s | Val accuracy | Test accuracy (PyTorch) |",
            "|---|---:|---:|---:|---:|---:|"]
    accuracy = {m["name"]: m.get("test_accuracy", {}).get("pytorch") for m in results["models"]}
    for arch, t in results["training"].items():
        rows.append(f"| {arch} | {t['epochs']} | {t['train_seconds']:.1f} | {t['images_per_second']:.0f} | "
                    f"{_pct(t.get('val_acc'))} | {_pct(accuracy.get(arch))} |")
    return rows


def write_chart(results: dict, path: Path) -> Path:
    """Grouped bars (mean latency, whiskers min..p90) per model; one panel per thread count (like Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    threads = results["settings"]["threads"]
    models = [m["name"] for m in results["models"]]
    series = list(dict.fromkeys((r["runtime"], r["precision"]) for r in results["results"]))
    fig, axes = plt.subplots(1, len(threads), figsize=(5.5 * len(threads), 4.2), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(series))
    for ax, t in zip(axes[0], threads):
        for k, (runtime, precision) in enumerate(series):
            means, low, high = [], [], []
            for name in models:
                r = next((r for r in results["results"] if (r["model"], r["runtime"], r["precision"], r["threads"])
                          == (name, runtime, precision, t)), None)
                means.append(r["mean_ms"] if r else np.nan)
                low.append(r["mean_ms"] - r["min_ms"] if r else 0.0)
                high.append(max(0.0, r["p90_ms"] - r["mean_ms"]) if r else 0.0)
            x = np.arange(len(models)) + (k - (len(series) - 1) / 2) * width
            ax.bar(x, means, width, yerr=[low, high], capsize=2, label=f"{runtime} {precision}")
        ax.set_xticks(np.arange(len(models)), models, rotation=20, ha="right")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("latency per image, ms (bar: mean; whisker: min to p90)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"Inference latency, batch 1 — {results['machine']['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def render_report(results: dict, chart_name: str) -> str:
    """The Markdown report."""
    s, m = results["settings"], results["machine"]
    lines = [
        "# Study 2: on-device inference latency",
        "",
        f"Measured on **{m['cpu']}** ({m['cores']} cores available), not on a phone. "
        f"Load average before/after: {results['load']['before']} / {results['load']['after']}.",
        f"Each figure: {s['warmup']} warm-up calls, then {s['runs']} timed calls of the inference call alone "
        "(`interpreter.invoke()`, `session.run`, `net(x)`), batch 1, each rounded to 0.01 ms as the paper did.",
        f"Command: `{results['command']}`",
        "",
    ]
    if results.get("data", {}).get("synthetic"):
        lines += ["**The accuracies below come from SYNTHETIC images** (procedurally generated, not Fruits-360).", ""]
    if results.get("training"):
        lines += ["## Training (orchard's LightningCLI, best checkpoint exported)", "", *training_table(results), ""]
    lines += ["## Table 1: models", "", *table1(results), "",
              "The paper's file sizes and accuracies for these models: " + NOT_GIVEN + ".", ""]
    if export_table(results):
        lines += ["## Export: parity with PyTorch and time", "", *export_table(results), "",
                  "float32 compares logits; float16 is checked on the softmax probabilities (limit 1e-2); "
                  "int8 on the top-1 class (limit 98 %). Export time: ONNX export + onnx2tf + parity checks.", ""]
    lines += ["## Latency", "", *latency_table(results), "",
              f"The paper's phone latencies for these models: {NOT_GIVEN} (measure them with the commands below).", "",
              f"![latency]({chart_name})", "",
              "## Measuring on an Android phone", "",
              "TFLite's `benchmark_model` times the same files the same way (warm-up, "
              f"{s['runs']} runs, XNNPACK, the thread counts above):", "",
              "```sh", *results["android"]["commands"], "```", ""]
    return "\n".join(lines)
