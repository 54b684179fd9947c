"""``python cli.py benchmark latency|frameworks``."""
from common.dispatch import dispatch

COMMANDS = {
    "latency": ("benchmarks.latency", "TFLite invoke() latency (the paper's measurement), with ONNX Runtime and PyTorch"),
    "training": ("benchmarks.training_speed", "one fit under several settings (e.g. feature cache, precision), paired"),
    "frameworks": ("benchmarks.frameworks", "Lightning vs plain PyTorch vs Keras: throughput, memory, TFLite routes"),
}


def main(argv: list[str]) -> int:
    return dispatch("cli.py benchmark", COMMANDS, argv)
