"""He et al.'s CIFAR-10 residual networks and their plain counterparts (He, Zhang, Ren & Sun, "Deep
Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2; the lecture's plain-vs-residual figure).

The paper's CIFAR design: a 3×3 convolution with 16 filters on the 32×32 input, then three stages
of ``n`` basic blocks (two 3×3 convolutions each) with 16, 32 and 64 filters on 32×32, 16×16 and
8×8 maps (the first convolution of stages 2 and 3 has stride 2), global average pooling and a
10-way fully connected layer: 6n + 2 weighted layers (n = 3: 20 layers, n = 9: 56). BatchNorm after
every convolution, before the ReLU; convolutions without bias.

Shortcuts are the paper's option A: identity, and where the shape changes, the input subsampled by
2 and zero-padded with the missing channels, so the residual and the plain networks have exactly the
same parameters (resnet20: 269,722; resnet56: 853,018). The plain networks are the same stacks
without the shortcuts. Weights: He (Kaiming) normal initialisation of the convolutions, as the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import register_model
from zoo.classes import CIFAR10_CLASSES
from zoo.models.resnet import CIFAR_MEAN, CIFAR_STD
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, WeightSpec

PAPER = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (Sec. 4.2, CIFAR-10)"


class ShortcutA(nn.Module):
    """Option A: take every other pixel and zero-pad the new channels (no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            half = self.extra // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra - half))
        return x


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers; ``residual`` adds the option-A shortcut before the last ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = ShortcutA(cin, cout, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNetHe(nn.Module):
    """Input N×3×32×32, output N×num_classes logits; ``depth`` = 6n + 2."""

    def __init__(self, depth: int, residual: bool = True, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for i, width in enumerate((16, 32, 64)):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (i > 0 and j == 0) else 1, residual))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _cifar10(model: str, accuracy: float, sha256: str) -> WeightSpec:
    """The CPU-budget CIFAR-10 weight (recipe ``he_cifar10_cpu``: 4 epochs, the four networks side by side; fp16)."""
    return WeightSpec(
        tag="cifar10", dataset="cifar10", recipe="he_cifar10_cpu", metrics={"test_accuracy": accuracy}, sha256=sha256,
        repo_id=f"{HUB_ORG}/{model}.cifar10", shipped=True, class_names=CIFAR10_CLASSES,
        preprocessing=Preprocessing(mean=CIFAR_MEAN, std=CIFAR_STD, resize=32, crop=(32, 32)),
    )


WEIGHTS = {
    "resnet20": _cifar10("resnet20", 0.7947, "25d646b894194362265dda1dd6e3025141d385ea8527a26c72f4949f493b6dd5"),
    "plain20": _cifar10("plain20", 0.7375, "ccd8c663836ee7e2e95a1e0684f7abbbd56e9338511a6f01cd8385f5e4d262ce"),
    "resnet56": _cifar10("resnet56", 0.8012, "ca38967ffd5e7236aacfbaef2cea07b579ff49436a49634924111ea20169fd16"),
    "plain56": _cifar10("plain56", 0.4055, "ceb46ae6a3819f42cae9b808e3b4c8f1cca522a178c1a3ce2655ffb227db3a72"),
}


def _he(description: str):
    def register(builder):
        weight = WEIGHTS.get(builder.__name__)
        return register_model(task="classification", input_size=(3, 32, 32), num_classes=10,
                              family="resnet_cifar_he", paper=PAPER, mean=CIFAR_MEAN, std=CIFAR_STD,
                              description=description, weights=[weight] if weight else [])(builder)
    return register


@_he("He et al.'s CIFAR ResNet-20 (3 stages x 3 blocks, 16/32/64 filters, option-A shortcuts), 0.27M parameters")
def resnet20(*, num_classes: int = 10, in_chans: int = 3) -> CifarResNetHe:
    """He et al. 2016's 20-layer CIFAR-10 ResNet (n = 3), option-A shortcuts."""
    return CifarResNetHe(20, True, num_classes, in_chans)


@_he("He et al.'s CIFAR ResNet-56 (3 stages x 9 blocks, 16/32/64 filters, option-A shortcuts), 0.85M parameters")
def resnet56(*, num_classes: int = 10, in_chans: int = 3) -> CifarResNetHe:
    """He et al. 2016's 56-layer CIFAR-10 ResNet (n = 9), option-A shortcuts."""
    return CifarResNetHe(56, True, num_classes, in_chans)


@_he("resnet20 without its shortcuts: He et al.'s 20-layer plain CIFAR network")
def plain20(*, num_classes: int = 10, in_chans: int = 3) -> CifarResNetHe:
    """He et al. 2016's 20-layer plain CIFAR-10 network (resnet20 without shortcuts)."""
    return CifarResNetHe(20, False, num_classes, in_chans)


@_he("resnet56 without its shortcuts: He et al.'s 56-layer plain CIFAR network")
def plain56(*, num_classes: int = 10, in_chans: int = 3) -> CifarResNetHe:
    """He et al. 2016's 56-layer plain CIFAR-10 network (resnet56 without shortcuts)."""
    return CifarResNetHe(56, False, num_classes, in_chans)
