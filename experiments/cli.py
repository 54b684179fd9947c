"""``python cli.py experiment transfer|latency``."""
from common.dispatch import dispatch

COMMANDS = {
    "transfer": ("experiments.transfer", "study 1: scratch vs staged transfer learning, report beside the paper's tables"),
    "latency": ("experiments.latency", "study 2: train, export and time the four architectures"),
}


def main(argv: list[str]) -> int:
    return dispatch("cli.py experiment", COMMANDS, argv)
