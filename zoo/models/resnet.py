"""ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016)
and ResNeXt (Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep
Neural Networks", CVPR 2017).

The ImageNet variants follow torchvision's layout and ``state_dict`` keys (``conv1``,
``bn1``, ``layer1``..``layer4``, ``fc``), including its "ResNet V1.5" deviation: the stride-2
of a bottleneck sits on the 3×3 conv, not the first 1×1. resnet50 has 25,557,032 parameters.

The CIFAR variants (``resnet18_cifar``, ``resnet34_cifar``) keep the same blocks and stages but
use a 3×3 stride-1 stem without max-pooling, so a 32×32 image reaches the last stage at 4×4
(the common CIFAR adaptation, e.g. in DAWNBench entries). ``resnext29_8x16d`` (formerly
``resnext_cifar``) is ResNeXt-29 (3 stages × 3 bottlenecks: 27 convolutions, the stem and the
classifier, the paper's CIFAR design) with cardinality 8 and a first-stage width of 16 per group
("8×16d", doubling per stage), smaller than the paper's 8×64d so that it trains on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo._registry import register_model

PAPER_RESNET = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"
PAPER_RESNEXT = "Xie et al., Aggregated Residual Transformations for Deep Neural Networks, CVPR 2017"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs with an identity (or 1×1 projection) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (grouped for ResNeXt, stride here: V1.5), 1×1 expand ×4."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet/ResNeXt. Input N×C×H×W, output N×num_classes logits.

    ``stem="imagenet"``: 7×7/2 conv + 3×3/2 max-pool (output stride 32).
    ``stem="cifar"``: 3×3/1 conv, no pool (output stride 8 with three stages, 4 with four...).
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int], num_classes: int = 1000,
                 in_chans: int = 3, groups: int = 1, width_per_group: int = 64,
                 widths: Sequence[int] = (64, 128, 256, 512), stem: str = "imagenet",
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        self.groups, self.base_width = groups, width_per_group
        self.inplanes = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif stem == "cifar":
            self.conv1 = conv3x3(in_chans, self.inplanes)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        for i, (width, depth) in enumerate(zip(widths, layers, strict=True)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, width, depth, stride=1 if i == 0 else 2))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
                if last_bn is not None:
                    nn.init.zeros_(last_bn.weight)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×H×W → N×F×h×w, the last stage's feature map."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


def _imagenet(fn):
    family = "resnext" if fn.__name__.startswith("resnext") else "resnet"
    paper = PAPER_RESNEXT if family == "resnext" else PAPER_RESNET
    return register_model(task="classification", input_size=(3, 224, 224), num_classes=1000,
                          family=family, paper=paper, resize=256)(fn)


def _cifar(fn):
    family = "resnext" if fn.__name__.startswith("resnext") else "resnet"
    paper = PAPER_RESNEXT if family == "resnext" else PAPER_RESNET
    return register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family=family,
                          paper=paper, mean=CIFAR_MEAN, std=CIFAR_STD)(fn)


@_imagenet
def resnet18(*, num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18: BasicBlock × (2, 2, 2, 2)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_chans, zero_init_residual=zero_init_residual)


@_imagenet
def resnet34(*, num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34: BasicBlock × (3, 4, 6, 3)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_chans, zero_init_residual=zero_init_residual)


@_imagenet
def resnet50(*, num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (V1.5): Bottleneck × (3, 4, 6, 3); 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_chans, zero_init_residual=zero_init_residual)


@_imagenet
def resnet101(*, num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (V1.5): Bottleneck × (3, 4, 23, 3)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_chans, zero_init_residual=zero_init_residual)


@_imagenet
def resnet152(*, num_classes: int = 1000, in_chans: int = 3, zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (V1.5): Bottleneck × (3, 8, 36, 3)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, in_chans, zero_init_residual=zero_init_residual)


@_imagenet
def resnext50_32x4d(*, num_classes: int = 1000, in_chans: int = 3) -> ResNet:
    """ResNeXt-50 32×4d: grouped Bottleneck × (3, 4, 6, 3), cardinality 32, width 4."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_chans, groups=32, width_per_group=4)


@_imagenet
def resnext101_32x8d(*, num_classes: int = 1000, in_chans: int = 3) -> ResNet:
    """ResNeXt-101 32×8d: grouped Bottleneck × (3, 4, 23, 3), cardinality 32, width 8."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_chans, groups=32, width_per_group=8)


@_cifar
def resnet18_cifar(*, num_classes: int = 10, in_chans: int = 3) -> ResNet:
    """ResNet-18 for 32×32 images: 3×3 stem, no max-pool, BasicBlock × (2, 2, 2, 2)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_chans, stem="cifar")


@_cifar
def resnet34_cifar(*, num_classes: int = 10, in_chans: int = 3) -> ResNet:
    """ResNet-34 for 32×32 images: 3×3 stem, no max-pool, BasicBlock × (3, 4, 6, 3)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_chans, stem="cifar")


@register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family="resnext",
                paper=PAPER_RESNEXT, mean=CIFAR_MEAN, std=CIFAR_STD, aliases=("resnext_cifar",))
def resnext29_8x16d(*, num_classes: int = 10, in_chans: int = 3, cardinality: int = 8,
                    width_per_group: int = 16) -> ResNet:
    """ResNeXt-29 8×16d for 32×32 images: 3 stages × 3 grouped bottlenecks (cardinality 8, 16 per group in the
    first stage); 5.65 M parameters. ``cardinality``/``width_per_group`` other than 8/16 give another ResNeXt-29."""
    return ResNet(Bottleneck, [3, 3, 3], num_classes, in_chans, groups=cardinality,
                  width_per_group=width_per_group, widths=(64, 128, 256), stem="cifar")
