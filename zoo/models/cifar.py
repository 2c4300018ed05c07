"""The classic assignment's basic CIFAR-10 network (the course report's Fig. 57).

Exactly as printed: conv64-BN-ReLU, conv64-BN-ReLU-maxpool 2, conv128-BN-ReLU-maxpool
10×10/10, FC 128→512-ReLU, FC 512→10, with the report's module names (``layer1``..``layer3``,
``fc``, ``fc1``). On a 32×32 input the 10×10/10 pool sees only the top-left 10×10 of the
16×16 feature map (it outputs 1×1): a quirk of the original that is kept on purpose, and one
reason the course's network stops near 59%.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model
from zoo.classes import CIFAR10_CLASSES
from zoo.models.resnet import CIFAR_MEAN, CIFAR_STD
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, WeightSpec

CIFAR10_WEIGHT = WeightSpec(
    tag="cifar10", dataset="cifar10", recipe="cifar_cnn_cifar10", metrics={"test_accuracy": 0.7718},
    sha256="0dc4b1bdfcccd513ad50ec686c16567a4c74aa301d0a445ae049c00dcf44f00f",
    repo_id=f"{HUB_ORG}/cifar_cnn.cifar10", shipped=True, class_names=CIFAR10_CLASSES,
    preprocessing=Preprocessing(mean=CIFAR_MEAN, std=CIFAR_STD, resize=32, crop=(32, 32)),
)


def _conv_bn_relu(cin: int, cout: int, *extra: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), *extra)


class CifarCNN(nn.Module):
    """Input N×C×32×32, output N×num_classes logits."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3) -> None:
        super().__init__()
        self.layer1 = _conv_bn_relu(in_chans, 64)
        self.layer2 = _conv_bn_relu(64, 64, nn.MaxPool2d(2, 2))
        self.layer3 = _conv_bn_relu(64, 128, nn.MaxPool2d(10, 10))
        self.fc = nn.Sequential(nn.Linear(128, 512), nn.ReLU())
        self.fc1 = nn.Sequential(nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc1(self.fc(torch.flatten(x, 1)))


@register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family="cifar_cnn",
                paper="Course report HW0 Phase 2, Fig. 57 (basic model)", mean=CIFAR_MEAN, std=CIFAR_STD,
                weights=[CIFAR10_WEIGHT])
def cifar_cnn(*, num_classes: int = 10, in_chans: int = 3) -> CifarCNN:
    """The course's basic CIFAR-10 CNN (Fig. 57): three conv-BN-ReLU layers and two FC layers."""
    return CifarCNN(num_classes=num_classes, in_chans=in_chans)
