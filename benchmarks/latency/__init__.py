"""``benchmark latency``: TFLite ``invoke()`` latency beside ONNX Runtime and PyTorch.

command (arguments, the run, JSON), models (what is timed: export folders or paths), timing
(the clocks), end_to_end (photo file -> label), report (Markdown and chart). Study 2
(``experiments/latency.py``) times its exports through the same modules.
"""
