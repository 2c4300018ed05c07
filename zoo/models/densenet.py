"""DenseNet (Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017).

ImageNet variants (DenseNet-BC 121/161/169) follow torchvision's layout and ``state_dict``
keys (``features.conv0``, ``features.denseblock1.denselayer1.norm1``, ...,
``features.norm5``, ``classifier``). ``densenet_bc100_k12`` (formerly ``densenet_cifar``) is
the paper's CIFAR DenseNet-BC (depth 100: three dense blocks of 16 two-conv layers, two
transitions, the stem and the classifier; growth rate k = 12, compression 0.5) with a 3×3 stem;
769,162 parameters (the paper's 0.8 M). The course report printed no DenseNet layout, so this
network stands in for the course's "DenseNet".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import register_model
from zoo.models.resnet import CIFAR_MEAN, CIFAR_STD

PAPER = "Huang et al., Densely Connected Convolutional Networks, CVPR 2017"


class _DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (bn_size·k) - BN-ReLU-3×3 conv (k); concatenated to its input."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        x = self.conv2(self.relu2(self.norm2(x)))
        return F.dropout(x, p=self.drop_rate, training=self.training) if self.drop_rate > 0 else x


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int,
                 drop_rate: float) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, 1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC. Input N×C×H×W, output N×num_classes logits.

    ``stem="imagenet"``: 7×7/2 conv + 3×3/2 max-pool; ``stem="cifar"``: one 3×3 conv.
    """

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000, in_chans: int = 3, stem: str = "imagenet",
                 compression: float = 0.5) -> None:
        super().__init__()
        if stem == "imagenet":
            layers = [
                ("conv0", nn.Conv2d(in_chans, num_init_features, 7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
        elif stem == "cifar":
            layers = [("conv0", nn.Conv2d(in_chans, num_init_features, 3, padding=1, bias=False))]
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.features = nn.Sequential()
        for name, module in layers:
            self.features.add_module(name, module)
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                out = int(num_features * compression)
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, out))
                num_features = out
        self.features.add_module("norm5",
                                 nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        self.num_features = num_features

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×H×W → N×F×h×w after the final BN-ReLU."""
        return F.relu(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.forward_features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def _imagenet(fn):
    return register_model(task="classification", input_size=(3, 224, 224), num_classes=1000,
                          family="densenet", paper=PAPER, resize=256)(fn)


@_imagenet
def densenet121(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (BC): k = 32, blocks (6, 12, 24, 16)."""
    return DenseNet(32, (6, 12, 24, 16), 64, drop_rate=drop_rate, num_classes=num_classes, in_chans=in_chans)


@_imagenet
def densenet161(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-161 (BC): k = 48, blocks (6, 12, 36, 24), 96 initial features; 2208 output features."""
    return DenseNet(48, (6, 12, 36, 24), 96, drop_rate=drop_rate, num_classes=num_classes, in_chans=in_chans)


@_imagenet
def densenet169(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-169 (BC): k = 32, blocks (6, 12, 32, 32)."""
    return DenseNet(32, (6, 12, 32, 32), 64, drop_rate=drop_rate, num_classes=num_classes, in_chans=in_chans)


@register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family="densenet",
                paper=PAPER, mean=CIFAR_MEAN, std=CIFAR_STD, aliases=("densenet_cifar",))
def densenet_bc100_k12(*, num_classes: int = 10, in_chans: int = 3, growth_rate: int = 12,
                       drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-BC-100 (k = 12) for 32×32 images: 3 dense blocks of 16 layers, 3×3 stem.
    ``growth_rate`` other than 12 gives another DenseNet-BC-100."""
    return DenseNet(growth_rate, (16, 16, 16), 2 * growth_rate, drop_rate=drop_rate,
                    num_classes=num_classes, in_chans=in_chans, stem="cifar")
