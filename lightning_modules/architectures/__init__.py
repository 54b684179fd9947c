"""Pure ``nn.Module`` architectures of the two studies, by name."""
from .alexnet import AlexNet, alexnet, alexnet_separable
from .base import OrchardNet
from .mobilenet_v1 import MobileNetV1, mobilenet_v1
from .mobilenet_v2 import MobileNetV2, mobilenet_v2
from .registry import (
    ARCHITECTURES,
    PAPER_TRAINABLE_PARAMS,
    UnknownArchitectureError,
    build_model,
    check_name,
    list_models,
    trainable_params,
)

__all__ = [
    "ARCHITECTURES", "PAPER_TRAINABLE_PARAMS", "AlexNet", "MobileNetV1", "MobileNetV2", "OrchardNet",
    "UnknownArchitectureError", "alexnet", "alexnet_separable", "build_model", "check_name",
    "list_models", "mobilenet_v1", "mobilenet_v2", "trainable_params",
]
