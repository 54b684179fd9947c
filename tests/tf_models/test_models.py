"""Keras twins: same trainable parameters, and the same outputs once PyTorch's weights are copied in."""
import numpy as np
import pytest
import torch

from lightning_modules.architectures import PAPER_TRAINABLE_PARAMS, UnknownArchitectureError, build_model, list_models, trainable_params
from tests.helpers.tf import parity_images, randomise_weights
from tf_models import WeightCopyError, build_keras_model, copy_torch_weights, keras_trainable_params, list_keras_models, nchw_to_nhwc

NAMES = list_models()


def test_every_pytorch_architecture_has_a_keras_twin():
    assert list_keras_models() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_trainable_params_equal_the_pytorch_twin_and_the_paper(name):
    keras_model = build_keras_model(name, num_classes=3)
    assert keras_trainable_params(keras_model) == trainable_params(build_model(name, 3)) == PAPER_TRAINABLE_PARAMS[name]


@pytest.mark.parametrize("name", ["alexnet", "mobilenet_v2"])
def test_head_follows_num_classes(name):
    keras_model = build_keras_model(name, num_classes=7)
    assert keras_model.output_shape == (None, 7)
    assert keras_model.input_shape == (None, 100, 100, 3)
    assert keras_trainable_params(keras_model) == trainable_params(build_model(name, 7))


def test_unknown_name_is_a_clear_error():
    with pytest.raises(UnknownArchitectureError, match="resnet"):
        build_keras_model("resnet")


def test_mobilenet_v1_stride2_blocks_pad_symmetrically():
    """PyTorch's padding=1 at stride 2 is ZeroPadding2D(1) + 'valid', never Keras's asymmetric 'same'."""
    model = build_keras_model("mobilenet_v1")
    pads = [layer for layer in model.layers if type(layer).__name__ == "ZeroPadding2D"]
    assert [p.name for p in pads] == [f"features.block{i}.0.pad" for i in (1, 2, 3)]
    assert all(p.padding == ((1, 1), (1, 1)) for p in pads)
    assert model.get_layer("features.block4.0").padding == "valid"


@pytest.fixture(scope="module")
def images(tiny_fruits):
    return parity_images(tiny_fruits)


@pytest.mark.parametrize("name", NAMES)
def test_copied_weights_give_the_same_outputs(name, images):
    torch.manual_seed(0)
    net = randomise_weights(build_model(name, num_classes=5)).eval()
    keras_model = build_keras_model(name, num_classes=5)
    copied = copy_torch_weights(keras_model, net)
    assert copied == sum(1 for layer in keras_model.layers if layer.weights)
    x, _ = images
    with torch.no_grad():
        expected = net(x).numpy()
    got = keras_model(nchw_to_nhwc(x), training=False).numpy()
    assert np.abs(got - expected).max() <= 1e-4
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zero outputs
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_copy_from_a_lightning_state_dict_with_prefix():
    net = randomise_weights(build_model("alexnet", 3)).eval()
    state = {f"net.{k}": v.numpy() for k, v in net.state_dict().items()}
    keras_model = build_keras_model("alexnet")
    copy_torch_weights(keras_model, state, prefix="net.")
    np.testing.assert_array_equal(keras_model.get_layer("features.conv2.2").moving_variance.numpy(),
                                  net.features.conv2[2].running_var.numpy())


def test_copy_between_different_architectures_is_refused():
    with pytest.raises(WeightCopyError, match="not twins"):
        copy_torch_weights(build_keras_model("alexnet"), build_model("mobilenet_v1"))


def test_copy_with_another_class_count_names_the_layer():
    with pytest.raises(WeightCopyError, match="head.1.4"):
        copy_torch_weights(build_keras_model("alexnet", num_classes=3), build_model("alexnet", num_classes=4))
