"""``python cli.py benchmark workers``: study 1's wall time on the engines side by side (Ray workers vs one process)."""
