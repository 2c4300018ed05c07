"""The course report's own CIFAR-10 networks (HW0 Phase 2, Figs. 58-60), exactly as printed.

The report's names overstate what they are, so the registry says what each network really is:

- ``course_resnet18`` (Fig. 58, "ResNet18"): a ResNet-9-style network (the well-known fast
  CIFAR-10 design: conv-conv-pool, one residual pair, conv-pool-conv-pool, one residual pair,
  linear): 8 convolutions and 2 residual connections, not He et al.'s 18-layer ResNet.
- ``course_resnet34`` (Fig. 59, "ResNet34"): the same plan, wider residual stacks (4 and 3
  convs), 5×5 average pooling: 17 convolutions, 2 residual connections.
- ``course_resnext`` (Fig. 60, "ResNeXt"): a 1×1 stem and three grouped bottleneck blocks
  (cardinality 2) with projection shortcuts; its printed ``layers`` hold no activation.

Input sizes, worked out from the prints: Figs. 58-59 flatten to exactly 512 features only when
the map after the pools is 1×1, i.e. from the course's ``CenterCrop(10)`` crops (10 → 5 → 2 → 1
in Fig. 58; 10 → 5, then the 5×5 average pool, in Fig. 59). Fig. 60's 8×8 average pool needs
an 8×8 map after two stride-2 blocks, i.e. a 32×32 input (a 10×10 crop would fail there).
``course_resnet18_32`` and ``course_resnet34_32`` are the same layers with global average
pooling before ``fc``, so that they can be trained on whole 32×32 images.

The prints cannot show activations applied in ``forward``; this implementation adds the
residual connections around ``res_1``/``res_2`` and, for the ResNeXt, a ReLU after the stem and
after each block's sum (the standard ResNeXt placement), nothing inside the printed modules.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import IMAGENET_MEAN, IMAGENET_STD, register_model

PAPER = "Course report HW0 Phase 2 (Figs. 58-60); see model_info description"


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


def _stack(*widths: int) -> list[nn.Module]:
    """conv-BN-ReLU layers through ``widths`` (w0 → w1 → ... )."""
    return [m for cin, cout in pairwise(widths) for m in _cbr(cin, cout)]


class CourseResNet(nn.Module):
    """Figs. 58/59. Input N×3×10×10 (or any size with ``global_pool``), output N×num_classes logits."""

    def __init__(self, deep: bool, num_classes: int = 10, in_chans: int = 3, global_pool: bool = False) -> None:
        super().__init__()
        pool = nn.MaxPool2d(2, 2)
        if deep:  # Fig. 59
            self.conv_1 = nn.Sequential(*_stack(in_chans, 64, 64, 128), pool)
            self.res_1 = nn.Sequential(*_stack(128, 128, 128, 128, 128))
            self.conv_2 = nn.Sequential(*_stack(128, 256, 256, 256, 256, 256, 512))
            self.res_2 = nn.Sequential(*_stack(512, 512, 512, 512))
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d(1) if global_pool else nn.AvgPool2d(5, 5)
        else:  # Fig. 58
            self.conv_1 = nn.Sequential(*_stack(in_chans, 64, 128), pool)
            self.res_1 = nn.Sequential(*_stack(128, 128, 128))
            self.conv_2 = nn.Sequential(*_cbr(128, 256), nn.MaxPool2d(2, 2), *_cbr(256, 512), nn.MaxPool2d(2, 2))
            self.res_2 = nn.Sequential(*_stack(512, 512, 512))
            self.avgpool = nn.AdaptiveAvgPool2d(1) if global_pool else nn.Identity()
        self.fc = nn.Sequential(nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(x)
        x = self.res_1(x) + x
        x = self.conv_2(x)
        x = self.res_2(x) + x
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResBlock(nn.Module):
    """Fig. 60's ``res_block``: 1×1 → grouped 3×3 (stride) → 1×1 ×2, each with BN, plus a projection."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, groups: int = 2) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, width, 1), nn.BatchNorm2d(width),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups), nn.BatchNorm2d(width),
            nn.Conv2d(width, cout, 1), nn.BatchNorm2d(cout),
        )
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.layers(x) + self.residual(x))


class CourseResNeXt(nn.Module):
    """Fig. 60. Input N×3×32×32, output N×num_classes logits."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.block1 = nn.Sequential(ResBlock(64, 128, 256, 1))
        self.block2 = nn.Sequential(ResBlock(256, 256, 512, 2))
        self.block3 = nn.Sequential(ResBlock(512, 512, 1024, 2))
        self.avgpool = nn.AvgPool2d(8, 8)
        self.fc = nn.Sequential(nn.Linear(1024, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _course(size: int, description: str):
    return register_model(task="classification", input_size=(3, size, size), num_classes=10, family="course",
                          paper=PAPER, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=size,  # the course normalised so
                          description=description)


@_course(10, "The course's 'ResNet18' (Fig. 58), really a ResNet-9-style net: 8 convs, 2 residual pairs; 10x10 input")
def course_resnet18(*, num_classes: int = 10, in_chans: int = 3) -> CourseResNet:
    """The course's 'ResNet18' (Fig. 58) as printed, for 10×10 centre crops."""
    return CourseResNet(False, num_classes, in_chans)


@_course(32, "Fig. 58's network with global average pooling, for whole 32x32 CIFAR-10 images")
def course_resnet18_32(*, num_classes: int = 10, in_chans: int = 3) -> CourseResNet:
    """The course's 'ResNet18' (Fig. 58) with global average pooling, for 32×32 images."""
    return CourseResNet(False, num_classes, in_chans, global_pool=True)


@_course(10, "The course's 'ResNet34' (Fig. 59): 17 convs, 2 residual stacks, 5x5 average pool; 10x10 input")
def course_resnet34(*, num_classes: int = 10, in_chans: int = 3) -> CourseResNet:
    """The course's 'ResNet34' (Fig. 59) as printed, for 10×10 centre crops."""
    return CourseResNet(True, num_classes, in_chans)


@_course(32, "Fig. 59's network with global average pooling, for whole 32x32 CIFAR-10 images")
def course_resnet34_32(*, num_classes: int = 10, in_chans: int = 3) -> CourseResNet:
    """The course's 'ResNet34' (Fig. 59) with global average pooling, for 32×32 images."""
    return CourseResNet(True, num_classes, in_chans, global_pool=True)


@_course(32, "The course's 'ResNeXt' (Fig. 60): 1x1 stem, 3 grouped bottlenecks (cardinality 2); 32x32 input")
def course_resnext(*, num_classes: int = 10, in_chans: int = 3) -> CourseResNeXt:
    """The course's 'ResNeXt' (Fig. 60) as printed: three grouped (×2) bottleneck blocks, 8×8 average pool."""
    return CourseResNeXt(num_classes, in_chans)
