"""Whether a ``.tflite`` runs on a phone's GPU delegate: TFLite's own model analyzer, per file.

``tf.lite.experimental.Analyzer.analyze(model_path=..., gpu_compatibility=True)`` prints the
report of ``_pywrap_analyzer_wrapper.ModelAnalyzer``; ai_edge_litert ships the same wrapper,
so the report is read here as a string without importing TensorFlow.
"""
from __future__ import annotations

import re
from pathlib import Path

TOOL = "ai_edge_litert ModelAnalyzer (tf.lite.experimental.Analyzer), gpu_compatibility=True"
COMPATIBLE_LINE = "Your model looks compatible with GPU delegate"
WARNING = "GPU COMPATIBILITY WARNING:"
_OP_LINE = re.compile(r"^\s*Op#(\d+) ([A-Z0-9_]+)\(")


def parse_report(report: str) -> dict:
    """``{"compatible", "flagged_ops": [{"op", "index", "reason"}], "summary"}`` from the analyzer's text."""
    flagged, last_op = [], None
    summary = None
    for line in report.splitlines():
        match = _OP_LINE.match(line)
        if match:
            last_op = (int(match.group(1)), match.group(2))
            continue
        stripped = line.strip()
        if stripped.startswith(WARNING):
            reason = stripped[len(WARNING):].strip()
            if last_op is not None and not reason.startswith("Subgraph#"):
                flagged.append({"op": last_op[1], "index": last_op[0], "reason": reason})
            else:
                summary = reason
            last_op = None
        elif stripped.startswith(COMPATIBLE_LINE):
            summary = stripped
    compatible = COMPATIBLE_LINE in report and not flagged and WARNING not in report
    return {"compatible": compatible, "flagged_ops": flagged, "summary": summary}


def gpu_delegate_verdict(path: str | Path) -> dict:
    """The analyzer's GPU delegate verdict for one of our own ``.tflite`` files (``tool`` names it)."""
    from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer

    try:
        report = analyzer.ModelAnalyzer(str(path), True, True)
    except Exception as e:  # the analyzer is experimental: record why there is no verdict
        return {"compatible": None, "flagged_ops": [], "summary": f"analyzer failed: {e}", "tool": TOOL}
    return {**parse_report(report), "tool": TOOL}
