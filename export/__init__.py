"""The export bridge: PyTorch -> ONNX -> TFLite (float32, float16, and a quantised model chosen by a
fallback ladder), each judged on real images; self-describing ``.tflite`` files; ``predict-images``.

``export.source`` gathers the network (checkpoint or fresh weights) and the real images and hands
them to ``export.bridge.export_model``; ``export.names`` defines precisions and file names once;
``python cli.py export`` is the command line; ``export.metadata`` reads what a ``.tflite`` carries;
``python cli.py predict-images`` classifies photos.
"""
