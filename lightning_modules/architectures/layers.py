"""Small building blocks shared by the architectures."""
from __future__ import annotations

import torch
from torch import nn


class ChannelsLastFlatten(nn.Module):
    """Flatten ``N x C x H x W`` in channels-last (``H, W, C``) order.

    Flattening in NHWC order makes the first dense layer's weights identical to a
    Keras ``Flatten`` + ``Dense`` twin and lets the ONNX -> TFLite bridge (which
    works in NHWC) drop the layout transpose in front of the classifier.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


def mlp_head(in_features: int, hidden: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """``in -> hidden -> hidden -> classes`` with ReLU (and optional dropout) between."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate([(in_features, hidden), (hidden, hidden)]):
        layers.append(nn.Linear(fan_in, fan_out))
        layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Explicit, framework-independent initialisation (Kaiming for convs, Glorot for dense)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d,)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
