import pytest
import torch
from torch import nn

from lightning_modules.architectures import (
    PAPER_TRAINABLE_PARAMS,
    UnknownArchitectureError,
    build_model,
    list_models,
    trainable_params,
)

NAMES = list_models()


def test_registry_holds_the_four_paper_architectures():
    assert NAMES == ["alexnet", "alexnet_separable", "mobilenet_v1", "mobilenet_v2"]


@pytest.mark.parametrize("name,expected", [
    ("alexnet", 952_835), ("alexnet_separable", 866_750), ("mobilenet_v1", 801_795), ("mobilenet_v2", 98_379),
])
def test_trainable_params_match_the_paper(name, expected):
    assert trainable_params(build_model(name, num_classes=3)) == expected == PAPER_TRAINABLE_PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [1, 8])
def test_output_shape(name, batch):
    net = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        assert net(torch.randn(batch, 3, 100, 100)).shape == (batch, 3)


@pytest.mark.parametrize("name", NAMES)
def test_head_size_follows_num_classes_and_only_the_head_changes(name):
    three, many = build_model(name, num_classes=3), build_model(name, num_classes=120)
    head_params = lambda n: sum(p.numel() for p in n.head.parameters())  # noqa: E731
    assert trainable_params(many) - trainable_params(three) == head_params(many) - head_params(three) > 0
    assert many(torch.randn(2, 3, 100, 100)).shape == (2, 120)


@pytest.mark.parametrize("name", NAMES)
def test_reset_head_rebuilds_the_classifier_and_keeps_features(name):
    net = build_model(name, num_classes=120)
    before = {k: v.clone() for k, v in net.features.state_dict().items()}
    net.reset_head(3)
    assert net.num_classes == 3
    assert net.eval()(torch.randn(1, 3, 100, 100)).shape == (1, 3)
    assert all(torch.equal(before[k], v) for k, v in net.features.state_dict().items())


@pytest.mark.parametrize("name", list_models())
def test_classifier_name_is_the_layer_that_follows_the_class_count(name):
    net = build_model(name, num_classes=7)
    assert net.get_submodule(net.classifier_name).out_features == 7
    shaped_by_classes = {k for k, v in net.state_dict().items() if 7 in v.shape}
    assert shaped_by_classes == {f"{net.classifier_name}.weight", f"{net.classifier_name}.bias"}


def test_named_blocks():
    assert build_model("alexnet").block_names == ["conv1", "conv2", "conv3", "conv4"]
    assert build_model("alexnet_separable").block_names == ["conv1", "conv2", "conv3", "conv4"]
    assert build_model("mobilenet_v1").block_names == ["stem", "block1", "block2", "block3", "block4"]
    assert build_model("mobilenet_v2").block_names == ["stem", "block1", "block2", "block3", "block4", "block5"]


def test_alexnet_feature_map_sizes_follow_the_paper():
    net = build_model("alexnet").eval()
    x = torch.zeros(1, 3, 100, 100)
    sizes = []
    for block in net.features:
        x = block(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(16, 24, 24), (32, 11, 11), (64, 9, 9), (128, 3, 3)]


def test_separable_alexnet_uses_depthwise_then_pointwise_convs():
    convs = [m for m in build_model("alexnet_separable").features.modules() if isinstance(m, nn.Conv2d)]
    depthwise, pointwise = convs[0::2], convs[1::2]
    assert all(c.groups == c.in_channels and c.bias is None for c in depthwise)
    assert all(c.kernel_size == (1, 1) and c.bias is not None for c in pointwise)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_separable"])
def test_alexnets_have_no_adaptive_pooling(name):
    kinds = {type(m) for m in build_model(name).modules()}
    assert not kinds & {nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d}


def test_unknown_architecture_names_the_choices():
    with pytest.raises(UnknownArchitectureError, match="'resnet50'.*alexnet"):
        build_model("resnet50")


def test_flatten_is_channels_last_so_dense_weights_match_nhwc():
    net = build_model("alexnet").eval()
    flatten = net.head[0]
    x = torch.arange(2 * 128 * 3 * 3, dtype=torch.float32).view(2, 128, 3, 3)
    assert torch.equal(flatten(x), x.permute(0, 2, 3, 1).reshape(2, -1))
