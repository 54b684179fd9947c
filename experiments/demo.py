"""``make demo``: both studies at small scale on the embedded (synthetic) sample data.

Run as ``python -m experiments.demo``; prints where each report is.
"""
from __future__ import annotations

import sys
import time

from common.allocator import tune_malloc
from common.threads import apply_openmp_defaults

apply_openmp_defaults()  # before torch is imported, as cli.py does (see common/threads.py)
tune_malloc()  # as cli.py does (see common/allocator.py)

from common.errors import run_guarded  # noqa: E402


def main() -> int:
    from experiments import latency, transfer

    start = time.perf_counter()
    steps = [
        ("study 1: scratch vs staged transfer (quick preset, synthetic data)", transfer.main,
         ["--quick", "--out", "reports/transfer"]),
        ("study 2: train, export and time the four architectures (quick preset, synthetic data)", latency.main,
         ["--quick", "--out", "reports/latency"]),
    ]
    for title, fn, argv in steps:
        print(f"\n=== {title} ===", flush=True)
        code = run_guarded(lambda: fn(argv))
        if code:
            return code
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s (synthetic data: figures show the pipeline, "
          "not the paper's accuracy)")
    print("reports: reports/transfer/report.md, reports/latency/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
