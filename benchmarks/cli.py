"""``python cli.py benchmark latency|frameworks``."""
from common.dispatch import dispatch

COMMANDS = {
    "latency": ("benchmarks.latency", "TFLite invoke() latency (the paper's measurement), with ONNX Runtime and PyTorch"),
    "frameworks": ("benchmarks.frameworks", "Lightning vs plain PyTorch vs Keras: throughput, memory, TFLite routes"),
}


def main(argv: list[str]) -> int:
    return dispatch("cli.py benchmark", COMMANDS, argv)
