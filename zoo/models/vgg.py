"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015): configurations A (11), B (13), D (16) and E (19) layers, with and
without batch normalisation. Layout and ``state_dict`` keys equal torchvision's
(``features.<i>``, ``classifier.<i>``); vgg16 has 138,357,544 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model

PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015"

# Output channels per 3×3 conv; "M" is a 2×2 max-pool.
CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg: list[int | str], batch_norm: bool, in_chans: int = 3) -> nn.Sequential:
    """The convolutional trunk: N×in_chans×H×W → N×512×H/32×W/32."""
    layers: list[nn.Module] = []
    channels = in_chans
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, int(v), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG. Input N×C×H×W (H, W ≥ 32), output N×num_classes logits."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg(cfg: str, batch_norm: bool, num_classes: int, in_chans: int, dropout: float) -> VGG:
    return VGG(make_layers(CFGS[cfg], batch_norm, in_chans), num_classes=num_classes, dropout=dropout)


def _register(fn):  # every VGG variant shares its metadata
    return register_model(task="classification", input_size=(3, 224, 224), num_classes=1000,
                          family="vgg", paper=PAPER, resize=256)(fn)


@_register
def vgg11(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg("A", False, num_classes, in_chans, dropout)


@_register
def vgg11_bn(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A) with batch normalisation."""
    return _vgg("A", True, num_classes, in_chans, dropout)


@_register
def vgg13(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("B", False, num_classes, in_chans, dropout)


@_register
def vgg13_bn(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B) with batch normalisation."""
    return _vgg("B", True, num_classes, in_chans, dropout)


@_register
def vgg16(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D); 138,357,544 parameters."""
    return _vgg("D", False, num_classes, in_chans, dropout)


@_register
def vgg16_bn(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D) with batch normalisation."""
    return _vgg("D", True, num_classes, in_chans, dropout)


@_register
def vgg19(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("E", False, num_classes, in_chans, dropout)


@_register
def vgg19_bn(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E) with batch normalisation."""
    return _vgg("E", True, num_classes, in_chans, dropout)
