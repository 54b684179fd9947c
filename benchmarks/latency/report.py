"""``report.md``, the bar chart and the Android ``benchmark_model`` commands for a latency run."""
from __future__ import annotations

from pathlib import Path

from lightning_modules.architectures import PAPER_TRAINABLE_PARAMS

NOT_GIVEN = "paper value not given"
# export.json's "judged_on", in words
JUDGED_ON = {"agreement_and_accuracy": "top-1 agreement with PyTorch and test accuracy",
             "output_closeness_fresh_weights": "output closeness (cosine of the logits): fresh, untrained weights"}
# The latency paper's Table 1 test accuracies (its file sizes are not given; its phone latencies only in a figure)
PAPER_ACCURACY = {"alexnet": 0.971, "alexnet_separable": 0.998, "mobilenet_v1": 0.992, "mobilenet_v2": 0.998}
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
            variant = model.get("variants", {}).get(precision, precision)
            remote = f"{DEVICE_DIR}/{model['name']}_{variant}.tflite"
            lines.append(f"# {model['name']} {variant}")
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


def _ms(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "—"


def _int8_entry(m: dict) -> dict:
    """The int8 deliverable's export figures (``{}`` when there is none)."""
    return (m.get("export") or {}).get("parity", {}).get("int8") or {}


def _int8_rejection(m: dict) -> str | None:
    """Why a model has no int8 deliverable (``None`` when it has one or int8 was never asked for)."""
    q = (m.get("export") or {}).get("quantization") or {}
    if q and not q.get("deliverable"):
        return q.get("reason") or "no quantised variant passed the gate"
    return None


def table1(results: dict) -> list[str]:
    """The paper's Table 1 beside ours: parameters, accuracy, file sizes, the int8 deliverable."""
    rows = ["| Model | Params (ours / paper) | Test accuracy, ours (PyTorch) | Paper Table 1 | Difference | "
            "float32 .tflite | Accuracy TFLite float32 | int8 deliverable | Accuracy int8 | int8 agreement (images) | "
            "Paper file size |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for m in results["models"]:
        paper_params = PAPER_TRAINABLE_PARAMS.get(m["name"])
        params = f"{m['params']:,}" if m["params"] else "—"
        acc = m.get("test_accuracy", {})
        ours, paper = acc.get("pytorch"), PAPER_ACCURACY.get(m["name"])
        diff = f"{(ours - paper) * 100:+.1f} pts" if ours is not None and paper is not None else "—"
        if m.get("weights") == "fresh":  # untrained: its accuracy is chance, beside the paper's it would mislead
            diff = "fresh weights: latency only"
        int8 = _int8_entry(m)
        variant = m.get("variants", {}).get("int8") or int8.get("variant")
        if "int8" in m["bytes"]:
            deliverable = f"{variant or 'int8'}, {_mb(m['bytes']['int8'])}"
        else:
            deliverable = f"none: {_int8_rejection(m)}" if _int8_rejection(m) else "—"
        agreement = _pct(int8.get("top1_agreement"))
        if int8.get("agreement_images"):
            agreement += f" ({int8['agreement_images']:,})"
        rows.append(
            f"| {m['name']} | {params} / {f'{paper_params:,}' if paper_params else NOT_GIVEN} | {_pct(ours)} | "
            f"{_pct(paper) if paper is not None else NOT_GIVEN} | {diff} | {_mb(m['bytes'].get('float32'))} | "
            f"{_pct(acc.get('float32'))} | {deliverable} | {_pct(acc.get('int8'))} | {agreement} | {NOT_GIVEN} |")
    for f in results.get("failures", []):
        if f["model"] not in {m["name"] for m in results["models"]}:
            paper = PAPER_ACCURACY.get(f["model"])
            rows.append(f"| {f['model']} | — | not measured: {f['stage']} failed ({f['reason']}) | "
                        f"{_pct(paper) if paper is not None else NOT_GIVEN} | — | — | — | — | — | — | {NOT_GIVEN} |")
    return rows


def paper_gap_note(results: dict, points: float = 2.0) -> list[str]:
    """A sentence naming the models whose test accuracy is more than ``points`` from Table 1's, and on what
    data ours was measured (the paper names neither its class count nor its test split)."""
    far = []
    for m in results["models"]:
        ours, paper = m.get("test_accuracy", {}).get("pytorch"), PAPER_ACCURACY.get(m["name"])
        if m.get("weights") == "fresh":
            continue
        if ours is not None and paper is not None and abs(ours - paper) * 100 > points:
            far.append(f"{m['name']} ({(ours - paper) * 100:+.1f})")
    if not far:
        return []
    experiment = results.get("experiment") or {}
    images = next((e["export"]["parity"].get("float32", {}).get("test_images") for e in results["models"]
                   if e.get("export")), None)
    data = (f"{experiment['classes']} classes" if experiment.get("classes") else "the data above") + \
        (f", {images:,} test images" if images else "")
    return [f"More than {points:g} points from Table 1: {', '.join(far)}. Ours are measured on {data}; the "
            "paper trained on Fruits-360 without naming its class count, split or epochs, so the figures compare "
            "tasks of the same kind, not the same test set.", ""]


def quantization_table(results: dict) -> list[str]:
    """The int8 fallback ladder of every model: each attempt with its figures, the one kept."""
    rows = ["| Model | Attempt | File | Size | Test accuracy | Agreement with PyTorch | Images | Max abs diff | "
            "Cosine min | Passed | Why not |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for m in results["models"]:
        q = (m.get("export") or {}).get("quantization")
        if not q:
            continue
        for a in q.get("attempts", []):
            kept = " (deliverable)" if a.get("variant") == q.get("deliverable") and a.get("passed") else ""
            diff, cosine = a.get("max_abs_diff"), a.get("cosine_min")
            rows.append(f"| {m['name']} | {a.get('variant')}{kept} | {a.get('file') or '—'} | {_mb(a.get('bytes'))} | "
                        f"{_pct(a.get('test_accuracy'))} | {_pct(a.get('top1_agreement'))} | "
                        f"{a.get('agreement_images') or '—'} | {f'{diff:.2e}' if diff is not None else '—'} | "
                        f"{f'{cosine:.4f}' if cosine is not None else '—'} | {'yes' if a.get('passed') else 'no'} | "
                        f"{'; '.join(map(str, a.get('failures') or [])) or '—'} |")
    return rows if len(rows) > 2 else []


def quantization_notes(results: dict) -> list[str]:
    """One line per model: the deliverable or why there is none, the gate, the calibration images."""
    lines = []
    for m in results["models"]:
        e = m.get("export") or {}
        q = e.get("quantization")
        if not q:
            continue
        gate = ", ".join(f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                         for k, v in (q.get("gate") or {}).items())
        kept = f"deliverable **{q['deliverable']}**" if q.get("deliverable") else f"**no int8 deliverable**: {q.get('reason')}"
        judged = f"; judged on {JUDGED_ON.get(e['judged_on'], e['judged_on'])}" if e.get("judged_on") else ""
        lines.append(f"- {m['name']}: {kept} (gate: {gate or '—'}; {q.get('calibration_images', '—')} calibration "
                     f"images{judged})")
    return lines


def gpu_table(results: dict) -> list[str]:
    """TFLite's model analyzer verdict for the GPU delegate, per file (the tool named once below)."""
    rows = ["| Model | Precision | GPU delegate compatible | Ops it flags |", "|---|---|---|---|"]
    tools = {}
    for m in results["models"]:
        for precision, g in ((m.get("export") or {}).get("gpu_delegate") or {}).items():
            ops = [op if isinstance(op, str) else op.get("op", str(op)) for op in g.get("flagged_ops") or []]
            flagged = ", ".join(dict.fromkeys(ops)) or "none"
            rows.append(f"| {m['name']} | {m.get('variants', {}).get(precision, precision)} | "
                        f"{'yes' if g.get('compatible') else 'no'} | {flagged} |")
            tools[g.get("tool") or "—"] = None
    return [*rows, "", f"Verdicts by {'; '.join(tools)}."] if len(rows) > 2 else []


def latency_table(results: dict) -> list[str]:
    rows = ["| Model | Runtime | Precision | Threads | Init ms | First ms | Mean ms | Std ms | p50 ms | p90 ms | p99 ms | "
            "Min ms | Max ms |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["results"]:
        rows.append(f"| {r['model']} | {r['runtime']} | {r.get('variant', r['precision'])} | {r['threads']} | "
                    f"{_ms(r['init_ms'])} | {_ms(r['first_ms'])} | {r['mean_ms']:.2f} | {r['std_ms']:.2f} | "
                    f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['min_ms']:.2f} | {r['max_ms']:.2f} |")
    return rows


def end_to_end_table(results: dict) -> list[str]:
    """Medians per photo: decode, preprocess, invoke, postprocess, total; the model's load time once."""
    rows = ["| Model | Precision | Load ms (once) | Decode ms | Preprocess ms | Invoke ms | Postprocess ms | "
            "Total ms | Photos | Top-1 = folder | Normalisation from |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for e in results.get("end_to_end", []):
        rows.append(f"| {e['model']} | {e.get('variant', e['precision'])} | {_ms(e['load_ms'])} | {e['decode_ms']:.2f} | "
                    f"{e['preprocess_ms']:.2f} | {e['invoke_ms']:.2f} | {e['postprocess_ms']:.2f} | "
                    f"**{e['total_ms']:.2f}** | {e['photos']} | {_pct(e.get('photo_accuracy'))} | "
                    f"{e['input']['source']} |")
    return rows if len(rows) > 2 else []


def failures_table(results: dict) -> list[str]:
    rows = ["| Model | Stage | Reason |", "|---|---|---|"]
    rows += [f"| {f['model']} | {f['stage']} | {f['reason']} |" for f in results.get("failures", [])]
    return rows if len(rows) > 2 else []


def export_table(results: dict) -> list[str]:
    """Parity figures and export time of the models that came with an ``export.json``."""
    rows = ["| Model | ONNX Runtime max abs diff | float32 max abs diff | float16 max abs diff (logits / probs) | "
            "Export s | float32 ops |", "|---|---:|---:|---:|---:|---|"]
    for m in results["models"]:
        e = m.get("export")
        if not e:
            continue
        par = e["parity"]
        f16 = par.get("float16") or {}
        f16_text = (f"{f16['max_abs_diff']:.1e} / {f16['max_abs_diff_probs']:.1e}"
                    if f16.get("max_abs_diff") is not None and f16.get("max_abs_diff_probs") is not None else "—")
        f32 = (par.get("float32") or {}).get("max_abs_diff")
        onnx = e.get("onnx_max_abs_diff")
        total = (e.get("seconds") or {}).get("total")
        ops = ", ".join(f"{k} {v}" for k, v in (e.get("float32_ops") or {}).items())
        rows.append(f"| {m['name']} | {f'{onnx:.1e}' if onnx is not None else '—'} | "
                    f"{f'{f32:.1e}' if f32 is not None else '—'} | {f16_text} | "
                    f"{f'{total:.1f}' if total is not None else '—'} | {ops} |")
    return rows if len(rows) > 2 else []


def training_table(results: dict) -> list[str]:
    """Training figures of ``experiment latency`` (absent for a plain benchmark)."""
    rows = ["| Model | Epochs | Train time s | Images/s | Val accuracy | Test accuracy (PyTorch) | Paper Table 1 |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    accuracy = {m["name"]: m.get("test_accuracy", {}).get("pytorch") for m in results["models"]}
    for arch, t in results["training"].items():
        if "train_seconds" not in t:
            continue
        rows.append(f"| {arch} | {t['epochs']} | {t['train_seconds']:.1f} | {t['images_per_second']:.0f} | "
                    f"{_pct(t.get('val_acc'))} | {_pct(accuracy.get(arch))} | {_pct(PAPER_ACCURACY.get(arch))} |")
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
        f"Each figure: the runtime's set-up (`init`: TFLite interpreter creation + `allocate_tensors`), the first "
        f"call (`first`), {s['warmup']} warm-up calls, then {s['runs']} timed calls of the inference call alone "
        "(`interpreter.invoke()`, `session.run`, `net(x)`), batch 1, each rounded to 0.01 ms as the paper did.",
        f"Command: `{results['command']}`",
        "",
    ]
    if results.get("data", {}).get("synthetic"):
        lines += ["**The accuracies below come from SYNTHETIC images** (procedurally generated, not Fruits-360).", ""]
    if failures_table(results):
        lines += ["## Not measured", "", "These failed; everything else below was measured without them.", "",
                  *failures_table(results), ""]
    if results.get("training"):
        lines += ["## Training (orchard's LightningCLI, best checkpoint exported)", "", *training_table(results), ""]
    lines += ["## Table 1: models, ours beside the paper's", "", *table1(results), "",
              "Paper: Table 1 of the latency paper (trained on Fruits-360; its file sizes are not given, its phone "
              "latencies only in a figure). Ours: the test split of the data above. The int8 column is the int8 deliverable "
              "the export kept: full-integer `int8`, or the first fallback that passed (`int16act`: int8 weights "
              "with int16 activations; `dynamic`: int8 weights, float activations — not full int8). "
              "The paper's parameter counts are those of a 3-class classifier; with more classes ours differ by "
              "the last layer alone.", "", *paper_gap_note(results)]
    if quantization_table(results):
        lines += ["## int8: the fallback ladder", "", *quantization_notes(results), "", *quantization_table(results), ""]
    if gpu_table(results):
        lines += ["## GPU delegate (TFLite's model analyzer)", "", *gpu_table(results), ""]
    if export_table(results):
        lines += ["## Export: parity with PyTorch and time", "", *export_table(results), "",
                  "float32 compares logits; float16 is checked on the softmax probabilities. "
                  "Export time: ONNX export + onnx2tf + checks.", ""]
    lines += ["## Latency", "", *latency_table(results), "",
              f"The paper's phone latencies for these models: {NOT_GIVEN} (measure them with the commands below).", "",
              f"![latency]({chart_name})", ""]
    if end_to_end_table(results):
        lines += ["## End to end: photo file to top-1", "",
                  f"Per photo, medians over {s.get('end_to_end_photos')} real photo files from the data root, "
                  f"{s.get('end_to_end_threads')} thread(s): decode (file -> RGB pixels), preprocess (resize to the "
                  "input, normalise, quantise for integer inputs, copy into the input tensor), invoke, postprocess "
                  "(dequantise, softmax, top-1). Load: interpreter creation + `allocate_tensors`, once per model. "
                  "Top-1 = folder: the share of photos whose prediction names their class folder.", "",
                  *end_to_end_table(results), ""]
    if s.get("end_to_end_skipped"):
        if not end_to_end_table(results):
            lines += ["## End to end: photo file to top-1", ""]
        lines += [f"End to end not measured: {s['end_to_end_skipped']}.", ""]
    lines += ["## Measuring on an Android phone", "",
              "TFLite's `benchmark_model` times the same files the same way (init, first inference, warm-up, "
              f"{s['runs']} runs, XNNPACK, the thread counts above):", "",
              "```sh", *results["android"]["commands"], "```", ""]
    return "\n".join(lines)
