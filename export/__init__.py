"""The export bridge: PyTorch -> ONNX -> TFLite (float32, float16, int8), with parity checks.

``export.bridge.export_model`` is the entry point; ``python cli.py export`` its command line.
"""
