"""``benchmark frameworks``: Lightning vs a plain PyTorch loop vs Keras, and two TFLite routes.

command (plan, jobs, JSON and report), runner (the one :class:`~benchmarks.frameworks.runner.BenchmarkRunner`
interface) with its runners lightning, torch_loop, keras and tflite, worker (one measurement per
process), turns (processes computing in turns), data (the shared arrays and initial weights),
flops, report.
"""
