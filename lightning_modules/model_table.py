"""``python cli.py models``: every architecture with its trainable parameters, output shape, freezable
blocks, study 1's freeze points and the builder keywords every architecture takes."""
from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list the architectures with parameter counts"


def freeze_points(net) -> dict[str, dict]:
    """Study 1's freeze points of ``net``: per transfer stage, the frozen blocks and their share of the parameters."""
    from .freezing import frozen_share, resolve_frozen_blocks

    points = {}
    for stage in net.transfer_freeze:
        blocks = resolve_frozen_blocks(net, stage)
        points[stage] = {"blocks": blocks, "frozen_share": frozen_share(net, blocks)}
    return points


def model_rows(num_classes: int = 3) -> list[dict]:
    """One row per architecture: parameters, shapes, blocks, freeze points and builder keywords."""
    import torch

    from .architectures import PAPER_TRAINABLE_PARAMS, build_model, builder_keywords, list_models, trainable_params

    rows = []
    for name in list_models():
        net = build_model(name, num_classes=num_classes).eval()
        with torch.no_grad():
            out = net(torch.zeros(1, *net.input_size))
        rows.append({
            "name": name,
            "trainable_params": trainable_params(net),
            "paper_params": PAPER_TRAINABLE_PARAMS[name] if num_classes == 3 else None,
            "input_shape": [1, *net.input_size],
            "output_shape": list(out.shape),
            "blocks": net.block_names,
            "freeze_points": freeze_points(net),
            "keywords": builder_keywords(name),
        })
    return rows


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``models`` under ``subparsers`` (an ``add_subparsers()`` result); runs :func:`main`."""
    parser = subparsers.add_parser("models", help=HELP, description=__doc__)
    add_arguments(parser)
    parser.set_defaults(main=main)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--num-classes`` and ``--json``."""
    parser.add_argument("--num-classes", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace | list[str]) -> int:
    """Print the table (or JSON) of every architecture (``args`` parsed, or an argument list)."""
    from common.errors import UsageError

    if isinstance(args, list):
        parser = argparse.ArgumentParser(prog="cli.py models", description=__doc__)
        add_arguments(parser)
        args = parser.parse_args(args)
    if args.num_classes < 1:
        raise UsageError("--num-classes must be at least 1")
    from .architectures import BUILDER_KEYWORDS

    rows = model_rows(args.num_classes)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"orchard architectures ({args.num_classes} classes, input 3x100x100)")
    for col in ("name", "trainable params", "paper", "output", "freezable blocks", "stage 2 frozen", "stage 3 frozen"):
        table.add_column(col)
    for r in rows:
        stages = [f"{_span(p['blocks'])} ({100 * p['frozen_share']:.0f} %)" for p in r["freeze_points"].values()]
        table.add_row(r["name"], f"{r['trainable_params']:,}", f"{r['paper_params']:,}" if r["paper_params"] else "-",
                      "x".join(map(str, r["output_shape"])), " ".join(r["blocks"]), *stages)
    console = Console()
    console.print(table)
    console.print("Stage 2 / 3 frozen: study 1's freeze points (--model.freeze stage2 / stage3, the stage configs' "
                  "default): every feature block but the last / every feature block, as the paper's conv1-conv3 / "
                  "conv1-conv4 of AlexNet; in brackets the share of the parameters frozen.")
    console.print("Builder keywords (--model.arch_kwargs), the same for every architecture: "
                  + "; ".join(f"{k}: {v}" for k, v in BUILDER_KEYWORDS.items()))
    return 0


def _span(blocks: list[str]) -> str:
    return f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else (blocks[0] if blocks else "none")
