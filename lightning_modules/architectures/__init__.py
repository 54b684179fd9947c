"""Pure ``nn.Module`` architectures of the two studies, by name."""
from .alexnet import AlexNet, alexnet, alexnet_separable
from .base import OrchardNet
from .mobilenet_v1 import MobileNetV1, mobilenet_v1
from .mobilenet_v2 import MobileNetV2, mobilenet_v2
from .registry import (
    ARCHITECTURES,
    BUILDER_KEYWORDS,
    PAPER_TRAINABLE_PARAMS,
    ArchitectureKeywordError,
    UnknownArchitectureError,
    build_model,
    builder_keywords,
    check_name,
    list_models,
    trainable_params,
)

__all__ = [
    "ARCHITECTURES", "BUILDER_KEYWORDS", "PAPER_TRAINABLE_PARAMS", "AlexNet", "ArchitectureKeywordError",
    "MobileNetV1", "MobileNetV2", "OrchardNet",
    "UnknownArchitectureError", "alexnet", "alexnet_separable", "build_model", "builder_keywords", "check_name",
    "list_models", "mobilenet_v1", "mobilenet_v2", "trainable_params",
]
