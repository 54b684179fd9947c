"""The paper's export route: Keras -> TFLiteConverter -> .tflite, run by the TFLite interpreter."""
import numpy as np
import pytest
import torch

from lightning_modules.architectures import build_model
from tests.helpers.tf import randomise_weights
from tf_models import build_keras_model, copy_torch_weights, nchw_to_nhwc
from tf_models.convert import keras_to_tflite


def _run_tflite(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"])


def test_float32_tflite_matches_keras_and_pytorch(tmp_path):
    net = randomise_weights(build_model("mobilenet_v1", 3)).eval()
    keras_model = build_keras_model("mobilenet_v1", 3)
    copy_torch_weights(keras_model, net)
    path = keras_to_tflite(keras_model, tmp_path / "sub" / "mobilenet_v1.tflite")
    assert path.is_file() and path.stat().st_size > 3_000_000  # ~800k float32 weights
    assert not list(path.parent.glob(".*tmp"))  # written under a temporary name, renamed
    x = torch.randn(2, 3, 100, 100)
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(_run_tflite(path, nchw_to_nhwc(x)), expected, atol=1e-4)


def test_unknown_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="bfloat"):
        keras_to_tflite(build_keras_model("mobilenet_v2"), tmp_path / "m.tflite", precision="bfloat")
    assert not (tmp_path / "m.tflite").exists()
