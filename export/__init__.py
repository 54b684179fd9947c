"""The export bridge: PyTorch -> ONNX -> TFLite (float32, float16, and a quantised model chosen by a
fallback ladder), each judged on real images; self-describing ``.tflite`` files; ``predict-images``.

``export.bridge.export_model`` is the entry point; ``python cli.py export`` its command line;
``export.metadata`` reads what a ``.tflite`` carries; ``python cli.py predict-images`` classifies photos.
"""
