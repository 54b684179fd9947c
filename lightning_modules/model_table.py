"""``python cli.py models``: every architecture with its trainable parameters and output shape."""
from __future__ import annotations

import argparse
import json

import torch

from .architectures import PAPER_TRAINABLE_PARAMS, build_model, list_models, trainable_params


def model_rows(num_classes: int = 3) -> list[dict]:
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
        })
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cli.py models", description=__doc__)
    parser.add_argument("--num-classes", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.num_classes < 1:
        parser.error("--num-classes must be at least 1")
    rows = model_rows(args.num_classes)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"orchard architectures ({args.num_classes} classes, input 3x100x100)")
    for col in ("name", "trainable params", "paper", "output", "freezable blocks"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], f"{r['trainable_params']:,}", f"{r['paper_params']:,}" if r["paper_params"] else "-",
                      "x".join(map(str, r["output_shape"])), " ".join(r["blocks"]))
    Console().print(table)
    return 0
