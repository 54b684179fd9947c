"""``python cli.py benchmark frameworks``: Lightning vs a plain PyTorch loop vs Keras, and two TFLite routes.

    python cli.py benchmark frameworks                      # alexnet, batch 64, 2 threads
    python cli.py benchmark frameworks --arch mobilenet_v2 --repeats 5 --out reports/frameworks_v2
    python cli.py benchmark frameworks --quick              # tiny synthetic data, a minute or two

Every measurement runs in a fresh process (TensorFlow and PyTorch never share a thread pool)
with the same thread count. In each repeat the three training processes take turns epoch by
epoch (``benchmarks/frameworks/turns.py``: one computes, the others wait between epochs, off the clock),
so the machine's slow and fast spells hit them alike; who goes first rotates (A B C, B C A,
...). All of them train the same task from the same uint8 arrays and the same initial weights, with the same batch size, optimizer, learning rate and epochs. Writes
``results.json``, ``report.md`` and ``frameworks.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from common.atomic import atomic_dir, check_out_dir, write_json_atomic, write_text_atomic
from common.commands import add_command, standalone_parser
from common.errors import OrchardError
from common.threads import OPENMP_DEFAULTS

from .report import TRAINING_KINDS, paired_ratios, report_markdown, spread, summarise_training, training_ratios, write_chart

REPO = Path(__file__).resolve().parents[2]
REAL_FRUITS = REPO.parent / "shared" / "data" / "fruits360-mini"
SYNTHETIC_FRUITS = REPO / "data" / "fruits360-synthetic"
# what --out holds: anything else there is a user's and refuses the folder
OUTPUTS = ("results.json", "report.md", "frameworks.png")


HELP = "Lightning vs plain PyTorch vs Keras: throughput, memory, TFLite routes"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``benchmark frameworks`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    return add_command(subparsers, "frameworks", HELP, __doc__, add_arguments, main)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's parser on its own (:func:`main` given an argument list)."""
    return standalone_parser("cli.py benchmark frameworks", __doc__, add_arguments)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    p.add_argument("--arch", default="alexnet", help="architecture (see `python cli.py models`)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="compute threads of every framework")
    p.add_argument("--repeats", type=int, default=3, help="runs per framework (interleaved)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run; the first one is reported separately")
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data-root", default=None,
                   help=f"Fruits-360 folder (default: {REAL_FRUITS} when present, else {SYNTHETIC_FRUITS})")
    p.add_argument("--grouping", default="apple_pear_noise", choices=["apple_pear_noise", "none"])
    p.add_argument("--per-class", type=int, default=400, help="images per label cap")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="PyTorch memory format for Lightning and the plain loop (default: ImageClassifier's default)")
    p.add_argument("--infer-batch-sizes", type=int, nargs="+", default=[1, 64])
    p.add_argument("--infer-images", type=int, default=256, help="test images per inference measurement")
    p.add_argument("--tflite-invokes", type=int, default=1000, help="timed invoke() calls per model and repeat")
    p.add_argument("--skip-tflite", action="store_true", help="leave out the TFLite route comparison")
    p.add_argument("--quick", action="store_true",
                   help="tiny synthetic data, 1 repeat, 2 epochs, few inference images; the processes start and "
                        "the TFLite routes convert side by side (tests and demos)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one measurement process may take")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/frameworks")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it holds files orchard did not write")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (arrays, logs, models)")


def apply_quick(args: argparse.Namespace) -> None:
    """The ``--quick`` preset: every stage runs, on little data."""
    args.repeats = 1 if args.repeats == 3 else args.repeats
    args.epochs = 2 if args.epochs == 3 else args.epochs
    args.infer_images = min(args.infer_images, 64)
    args.tflite_invokes = min(args.tflite_invokes, 20)
    args.per_class = min(args.per_class, 48)


def check_args(args: argparse.Namespace) -> None:
    from lightning_modules.architectures import check_name

    check_name(args.arch)
    for name in ("batch_size", "threads", "repeats", "epochs", "infer_images", "tflite_invokes"):
        if getattr(args, name) < 1:
            raise OrchardError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if any(b < 1 for b in args.infer_batch_sizes):
        raise OrchardError(f"--infer-batch-sizes must be positive, got {args.infer_batch_sizes}")
    if args.data_root and not Path(args.data_root).is_dir():
        raise OrchardError(f"data root {args.data_root} does not exist")
    check_out_dir(args.out, OUTPUTS, args.overwrite)


def resolve_data_root(args: argparse.Namespace, work: Path) -> Path:
    """``--data-root``, else the real subset, else the synthetic sample (a tiny fresh one for ``--quick``)."""
    if args.data_root:
        return Path(args.data_root)
    if args.quick:
        from datamodules.synthetic import make_synthetic_fruits

        return make_synthetic_fruits(work / "fruits360-quick", train_per_class=20, test_per_class=8)
    if REAL_FRUITS.is_dir():
        return REAL_FRUITS
    if SYNTHETIC_FRUITS.is_dir():
        return SYNTHETIC_FRUITS
    raise OrchardError(f"no data: neither {REAL_FRUITS} nor {SYNTHETIC_FRUITS} exists "
                       "(run `python cli.py data synth` or pass --data-root)")


def worker_env(threads: int, kind: str) -> dict[str, str]:
    """The environment of one measurement process: fixed thread counts, no legacy-Keras switch."""
    from common.threads import apply_openmp_defaults

    env = dict(os.environ)
    env.pop("TF_USE_LEGACY_KERAS", None)
    apply_openmp_defaults(env)  # what `python cli.py` gives a user's PyTorch processes
    env.update({
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
        "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    if kind == "lightning":  # render the rich progress bar as in a terminal, as a user's run does
        env.update({"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})
    return env


class Runner:
    """Starts one worker process per measurement and collects its JSON result.

    Args:
        work: folder for specs, results and logs.
        threads: thread count of every process.
        timeout: seconds one process may take.
    """

    def __init__(self, work: Path, threads: int, timeout: float) -> None:
        self.work, self.threads, self.timeout = work, threads, timeout
        self.count = 0

    def _prepare(self, kind: str, spec: dict[str, Any]) -> tuple[str, list[str], Path]:
        self.count += 1
        stem = self.work / "runs" / f"{self.count:02d}_{kind}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        spec = {"kind": kind, "work": str(self.work), "threads": self.threads, "result": f"{stem}.json", **spec}
        Path(f"{stem}.spec.json").write_text(json.dumps(spec, indent=1))
        return str(stem), [sys.executable, "-m", "benchmarks.frameworks.worker", f"{stem}.spec.json"], Path(f"{stem}.log")

    @staticmethod
    def _collect(kind: str, stem: str, returncode: int, log: Path, timing: dict[str, float]) -> dict[str, Any]:
        if returncode != 0 or not Path(f"{stem}.json").is_file():
            tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["(no output)"]
            raise OrchardError(f"{kind} measurement failed with exit code {returncode}: {tail[0][:300]} (log: {log})")
        result = json.loads(Path(f"{stem}.json").read_text())
        result.update(timing)
        return result

    def __call__(self, kind: str, **spec: Any) -> dict[str, Any]:
        """One measurement process, alone on the machine."""
        stem, cmd, log = self._prepare(kind, spec)
        t0 = time.perf_counter()
        with open(log, "w") as f:
            try:
                proc = subprocess.run(cmd, cwd=REPO, env=worker_env(self.threads, kind), stdout=f,
                                      stderr=subprocess.STDOUT, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                raise OrchardError(f"{kind} measurement took longer than {self.timeout:.0f} s (log: {log})") from None
        return self._collect(kind, stem, proc.returncode, log, {"process_seconds": time.perf_counter() - t0})

    def side_by_side(self, jobs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One process per job, all at once (work whose time is not the measurement, e.g. ``--quick``'s conversions)."""
        started = []
        t0 = time.perf_counter()
        try:
            for kind, spec in jobs:
                stem, cmd, log = self._prepare(kind, spec)
                with open(log, "w") as f:
                    started.append((kind, stem, log, subprocess.Popen(cmd, cwd=REPO, env=worker_env(self.threads, kind),
                                                                      stdout=f, stderr=subprocess.STDOUT)))
            deadline = time.monotonic() + self.timeout
            for kind, stem, log, proc in started:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
                except subprocess.TimeoutExpired:
                    raise OrchardError(f"{kind} measurement took longer than {self.timeout:.0f} s (log: {log})") from None
        finally:
            for *_, proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        timing = {"process_seconds": time.perf_counter() - t0}
        return [self._collect(kind, stem, proc.returncode, log, timing) for kind, stem, log, proc in started]

    def taking_turns(self, jobs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One process per job, computing in turns epoch by epoch (``benchmarks.frameworks.turns``), first job first."""
        from .turns import ENV, TurnTimeout, take_turns

        started, channels = [], []  # channels: the coordinator's pipe ends, closed at the end
        t0 = time.perf_counter()
        try:
            for kind, spec in jobs:
                stem, cmd, log = self._prepare(kind, spec)
                to_child, from_child = os.pipe(), os.pipe()
                channels.append((from_child[0], to_child[1]))
                env = {**worker_env(self.threads, kind), ENV: f"{to_child[0]},{from_child[1]}"}
                try:
                    with open(log, "w") as f:
                        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                                pass_fds=(to_child[0], from_child[1]))
                finally:  # the child's ends: the child holds its own copies
                    os.close(to_child[0])
                    os.close(from_child[1])
                started.append((kind, stem, log, proc))
            try:
                take_turns(channels, self.timeout)
            except TurnTimeout:
                raise OrchardError(f"a measurement held its turn longer than {self.timeout:.0f} s "
                                   f"(logs: {', '.join(str(s[2]) for s in started)})") from None
            for kind, stem, log, proc in started:
                proc.wait(timeout=self.timeout)
        finally:
            for *_, proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for fd in (fd for channel in channels for fd in channel):
                os.close(fd)
        timing = {"turn_group_seconds": time.perf_counter() - t0}
        return [self._collect(kind, stem, proc.returncode, log, timing) for kind, stem, log, proc in started]


def rotated(kinds: tuple[str, ...], r: int) -> list[str]:
    """Repeat ``r``'s order: A B C, then B C A, then C A B ... (every framework takes every slot)."""
    k = r % len(kinds)
    return list(kinds[k:] + kinds[:k])


def default_channels_last() -> bool:
    import inspect

    from lightning_modules.classifier import ImageClassifier

    return bool(inspect.signature(ImageClassifier).parameters["channels_last"].default)


def save_tflite_images(arrays_file: Path, out: Path, n: int, seed: int) -> None:
    """Normalised float NCHW calibration/test images (and labels) for the TFLite comparison."""
    import torch

    from datamodules.batches import BatchTransform

    with np.load(arrays_file) as f:
        train, test, labels = f["train_images"], f["test_images"], f["test_labels"]
    g = np.random.default_rng(seed)
    t = BatchTransform(channels_last=False)
    cal = t.images(torch.from_numpy(train[g.permutation(len(train))[: min(20, len(train))]])).numpy()
    idx = g.permutation(len(test))[: min(n, len(test))]
    np.savez(out, calibration=cal, test=t.images(torch.from_numpy(test[idx])).numpy(), labels=labels[idx])


def run_tflite(args: argparse.Namespace, run: Runner, work: Path, num_classes: int, weights_pt: Path,
               schedule: list[str]) -> dict[str, Any]:
    """Convert the trained weights both ways, then time both models (alternating, one process per repeat)."""
    try:
        import export.bridge  # noqa: F401
    except ImportError as e:
        return {"available": False, "reason": f"the export bridge is not importable ({e})"}
    import torch

    from .data import ARRAYS_FILE
    from .tflite import BRIDGE_DIR, KERAS_TFLITE, agreement

    weights_npz = work / "trained_weights.npz"
    np.savez(weights_npz, **{k: v.numpy() for k, v in torch.load(weights_pt, weights_only=True).items()})
    images_npz = work / "tflite_images.npz"
    save_tflite_images(work / ARRAYS_FILE, images_npz, 16 if args.quick else 64, args.seed)
    jobs = [("keras_tflite", {"arch": args.arch, "num_classes": num_classes, "weights_npz": str(weights_npz),
                              "out": str(work / KERAS_TFLITE)}),
            ("bridge_tflite", {"arch": args.arch, "num_classes": num_classes, "weights_pt": str(weights_pt),
                               "out": str(work / BRIDGE_DIR), "images_npz": str(images_npz)})]
    # --quick converts both ways at once (its conversion times are then not each route's alone)
    converted = run.side_by_side(jobs) if args.quick else [run(kind, **spec) for kind, spec in jobs]
    conversions = dict(zip(("keras_native", "bridge"), converted))
    routes = ("bridge", "keras_native")
    latency: dict[str, list[dict[str, Any]]] = {route: [] for route in routes}
    for r in range(args.repeats):
        order = rotated(routes, r)
        schedule.append("tflite_" + "+".join(order))
        measured = run("tflite_latency", models={route: conversions[route]["path"] for route in order},
                       images_npz=str(images_npz), output_images=16 if args.quick else 64, invokes=args.tflite_invokes)
        for route in routes:
            latency[route].append({**measured[route], "peak_rss_mb": measured["peak_rss_mb"]})
    with np.load(images_npz) as f:
        test = torch.from_numpy(f["test"])
    from lightning_modules.architectures import build_model

    net = build_model(args.arch, num_classes=num_classes)
    net.load_state_dict(torch.load(weights_pt, weights_only=True))
    with torch.inference_mode():
        reference = net.eval()(test).numpy()
    outputs = {route: np.asarray(latency[route][0]["outputs"]) for route in latency}
    result: dict[str, Any] = {"available": True, "precision": "float32", "batch": 1, "threads": args.threads,
                              "invokes": args.tflite_invokes}
    for route in latency:
        result[route] = {
            "latency_ms": spread([m["latency_ms"]["median"] for m in latency[route]]),
            "ops": latency[route][0]["ops"],
            "op_count": sum(latency[route][0]["ops"].values()),
            "bytes": conversions[route]["bytes"],
            "convert_seconds": conversions[route]["convert_seconds"],
            "peak_rss_mb": spread([m["peak_rss_mb"] for m in latency[route]]),
        }
    result["latency_ratio"] = paired_ratios([m["latency_ms"]["median"] for m in latency["bridge"]],
                                            [m["latency_ms"]["median"] for m in latency["keras_native"]])
    result["agreement"] = {
        "bridge_vs_keras_native": agreement(outputs["bridge"], outputs["keras_native"]),
        "bridge_vs_pytorch": agreement(outputs["bridge"], reference),
        "keras_native_vs_pytorch": agreement(outputs["keras_native"], reference),
    }
    return result


def limits(arch: str, num_classes: int, peaks: list[dict[str, Any]], runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """FLOPs per image, the CPU's measured matmul peak and the share of it each framework reaches.

    The peak is sampled by a fourth process that takes turns with a repeat's training runs (one
    sample per round of epochs), and each run's achieved GFLOP/s (steady-state throughput x
    training FLOPs per image) is divided by its own repeat's median sample, so a busy spell on a
    shared machine lowers both sides of the ratio. The peak divided by is the sustained rate of
    back-to-back products (``matmul_gflops``), measured like the training side: work over wall
    time, slow moments included. ``fraction_of_peak`` is the median of those paired shares: the
    distance to the limit; ``fraction_of_best_peak`` takes the fastest single product instead.
    """
    from lightning_modules.architectures import build_model

    from .flops import forward_flops
    from .report import paired_ratios, steady_state

    flops = forward_flops(build_model(arch, num_classes=num_classes))
    fp32 = [p["matmul_gflops"] for p in peaks]
    best = [p.get("matmul_gflops_best") for p in peaks]
    achieved = {k: [(steady_state(r)["steady_images_per_second"] or 0) * flops["training"] / 1e9 for r in v]
                for k, v in runs.items()}
    shares = {k: paired_ratios(g, fp32) for k, g in achieved.items()}
    return {
        "forward_flops_per_image": flops["forward"],
        "training_flops_per_image": flops["training"],
        "matmul_gflops": spread(fp32)["median"],
        "matmul_gflops_per_repeat": spread(fp32),
        "matmul_gflops_best": spread(best)["median"],
        "matmul_gflops_bf16": spread([p.get("matmul_gflops_bf16") for p in peaks])["median"],
        "achieved_training_gflops": {k: spread(g)["median"] for k, g in achieved.items()},
        "achieved_training_gflops_per_repeat": {k: spread(g) for k, g in achieved.items()},
        "fraction_of_peak": {k: s["median"] for k, s in shares.items()},
        "fraction_of_peak_per_repeat": shares,
        "fraction_of_best_peak": {k: paired_ratios(g, best)["median"] for k, g in achieved.items()},
    }


def main(args: argparse.Namespace | list[str]) -> int:
    """Run the benchmark from parsed options (or an argument list, parsed here); 0 when it wrote its report."""
    if isinstance(args, list):
        args = build_parser().parse_args(args)
    if args.quick:
        apply_quick(args)
    check_args(args)
    out = Path(args.out)
    channels_last = default_channels_last() if args.channels_last is None else args.channels_last
    work = Path(tempfile.mkdtemp(prefix="orchard-frameworks-"))
    ok = False
    try:
        results = benchmark(args, work, channels_last)
        with atomic_dir(out, own=OUTPUTS, overwrite=args.overwrite) as tmp:
            write_json_atomic(tmp / "results.json", results)
            write_text_atomic(tmp / "report.md", report_markdown(results))
            write_chart(results, tmp / "frameworks.png")
        ok = True
    finally:
        if ok and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:  # a failed measurement's logs are in there
            print(f"work folder kept: {work}", file=sys.stderr)
    r = results["ratios"]
    print(f"lightning/keras {r['lightning_over_keras']['median']:.2f}x, lightning/pytorch "
          f"{r['lightning_over_pytorch']['median']:.3f}x (training throughput, median of {args.repeats}); "
          f"bridge/keras-native TFLite latency: {r['bridge_tflite_over_keras_tflite']['median'] or '-'}")
    print(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'frameworks.png'}")
    return 0


def benchmark(args: argparse.Namespace, work: Path, channels_last: bool) -> dict[str, Any]:
    """Prepare the shared data and weights, run every measurement, and assemble ``results.json``."""
    from common.machine import machine_info

    from .data import DataSpec, INIT_TORCH_FILE, write_arrays, write_initial_weights

    load_before = [round(x, 2) for x in os.getloadavg()]
    t_start = time.perf_counter()
    root = resolve_data_root(args, work)
    data = write_arrays(DataSpec(str(root), None if args.grouping == "none" else args.grouping, args.per_class,
                                 seed=args.seed), work)
    num_classes = len(data["classes"])
    write_initial_weights(args.arch, num_classes, args.seed, work)
    run = Runner(work, args.threads, args.timeout)
    infer = {b: args.infer_images for b in args.infer_batch_sizes}
    common = {"arch": args.arch, "batch_size": args.batch_size, "epochs": args.epochs, "optimizer": args.optimizer,
              "lr": args.lr, "seed": args.seed, "infer": infer}
    schedule: list[str] = []
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in TRAINING_KINDS}
    trained = work / "trained_weights.pt"
    peaks: list[dict[str, Any]] = []  # the matmul peak, sampled in turns with each repeat's training runs
    for r in range(args.repeats):
        jobs = []
        for kind in rotated(TRAINING_KINDS, r):
            schedule.append(kind)
            extra: dict[str, Any] = {"channels_last": channels_last} if kind != "keras" else {}
            if args.quick:  # tests and demos: the processes import side by side before their first turn
                extra["start_before_turn"] = True
            if kind == "pytorch" and r == 0:
                extra["save_weights"] = str(trained)
            jobs.append((kind, {**common, **extra}))
        schedule.append("peak")  # a fourth process: one matmul-peak sample per round of epochs
        jobs.append(("peak", {"seconds": 0.3 if args.quick else 1.0, "rounds": args.epochs,
                              "start_before_turn": args.quick}))
        *trained_runs, peak = run.taking_turns(jobs)
        peaks.append(peak)
        for (kind, _), result in zip(jobs, trained_runs):
            runs[kind].append(result)
            print(f"repeat {r + 1} {kind:9s}: {result['images_per_second']:.0f} img/s over {result['epochs']} "
                  f"epochs, epoch seconds {', '.join(f'{s:.2f}' for s in result['epoch_seconds'])}", flush=True)
    peak_run = peaks[0]
    training = summarise_training(runs)
    ratios = training_ratios(runs)
    tflite = {"available": False, "reason": "--skip-tflite"} if args.skip_tflite else \
        run_tflite(args, run, work, num_classes, trained, schedule)
    ratios["bridge_tflite_over_keras_tflite"] = tflite.get("latency_ratio") or spread([])
    notes = [
        "Training throughput is the steady state: images per epoch over the median time of the epochs after the "
        "first; the first epoch's extra time (graph tracing, allocator warm-up) is the first-epoch overhead, "
        "and start-up (process start to first epoch: imports, data, model, trainer) is separate.",
        "Lightning: orchard's LightningCLI Trainer with its defaults (CSV logger logging every 10 steps, rich "
        "progress bar rendered as in a terminal, TrainingTimer, best/last checkpoints, validation every epoch); "
        "its time is TrainingTimer's, which pauses for validation and stops before the end-of-epoch "
        "checkpoint writing.",
        f"PyTorch, both runs: {'channels_last' if channels_last else 'contiguous (NCHW)'} memory format, "
        "ImageClassifier's optimizer (fused on CPU), the OpenMP environment `python cli.py` sets "
        f"({', '.join(f'{k}={v}' for k, v in OPENMP_DEFAULTS.items())} unless set; see common/threads.py).",
        "Keras: Keras 3 on TensorFlow 2.19 (what tf.keras is by default; see tf_models/backend.py), compiled "
        "with its defaults (no XLA on CPU, oneDNN on), intra- and inter-op threads = --threads, tf.data input "
        "pipeline (prefetching, same augmentation), progress bar on (verbose=1), same initial weights.",
        "Memory: peak RSS of each measurement process (resource.getrusage); 'RSS added by the run' is the peak "
        "minus the RSS once the framework and orchard's modules are imported. The plain-PyTorch process imports "
        "orchard's datamodules, which import Lightning: importing pytorch_lightning adds "
        f"{peak_run['import_rss']['pytorch_lightning_adds_mb']:.0f} MB to torch's "
        f"{peak_run['import_rss']['torch_mb']:.0f} MB.",
        "Inference: Lightning via trainer.predict, PyTorch via net(x) under inference_mode, Keras via "
        "model.predict; all three include the uint8 -> float normalisation. trainer.predict and model.predict "
        "are one call over --infer-images test images, so their per-call set-up (loops, hooks, progress bar; "
        "tf.data and the traced function) is part of the figure.",
    ]
    if data["synthetic"]:
        notes.append("The data is SYNTHETIC (procedurally generated), not Fruits-360 photographs.")
    if args.quick:
        notes.append("--quick: the measurement processes imported their frameworks side by side before their first "
                     "turn and the two TFLite routes converted at once, so start-up and conversion seconds are not "
                     "each one's alone.")
    results = {
        "command": "python cli.py benchmark frameworks " + " ".join(shlex.quote(a) for a in sys.argv[3:])
        if sys.argv[1:3] == ["benchmark", "frameworks"] else "python cli.py benchmark frameworks (called in-process)",
        "config": {**{k: v for k, v in vars(args).items() if k not in {"out", "keep_work"}},
                   "channels_last": channels_last, "infer": list(infer)},
        "machine": machine_info(),
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "data": data,
        "schedule": schedule,
        "ratios": ratios,
        "training": training,
        "limits": limits(args.arch, num_classes, peaks, runs),
        "tflite": {k: v for k, v in tflite.items() if k != "latency_ratio"},
        "notes": notes,
        "runs": runs,
        "seconds": time.perf_counter() - t_start,
    }
    return results
