"""LeNet-5 and the course's small MNIST CNN.

- ``lenet5``: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
  recognition", Proc. IEEE 1998. tanh activations and average pooling on a 1×32×32 input
  (MNIST digits padded from 28×28). Deviations from the paper: C3 is fully connected to S2
  (the paper's sparse connection table is dropped, as in most re-implementations), the
  subsampling layers have no trainable coefficients, and the output is a linear layer instead
  of Euclidean RBF units. 61,706 parameters.
- ``mnist_cnn``: the course notebook's network for 1×28×28 MNIST digits (conv 8@3×3 + BN,
  max-pool, conv 32@5×5 + BN, max-pool, FC 1568→600, dropout 0.5, FC 600→10).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model
from zoo.classes import MNIST_CLASSES
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, WeightSpec

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)

LENET5_MNIST = WeightSpec(
    tag="mnist", dataset="mnist", recipe="lenet5_mnist", metrics={"test_accuracy": 0.9928},
    sha256="251e5038ae85a3fd882872eeacc2f6f9595223e34bfa17894622fc0c65897230",
    repo_id=f"{HUB_ORG}/lenet5.mnist", shipped=True, class_names=MNIST_CLASSES,
    preprocessing=Preprocessing(mean=(0.1307,), std=(0.3081,), resize=28, crop=(28, 28), pad=2),
)
MNIST_CNN_MNIST = WeightSpec(
    tag="mnist", dataset="mnist", recipe="mnist_cnn_mnist", metrics={"test_accuracy": 0.995},
    sha256="d0cd0f3423225809591b4a94ff0f06c815af7ab7d71ab140beb1f2de2e503b0b",
    repo_id=f"{HUB_ORG}/mnist_cnn.mnist", shipped=True, class_names=MNIST_CLASSES,
    preprocessing=Preprocessing(mean=(0.1307,), std=(0.3081,), resize=28, crop=(28, 28)),
)


class LeNet5(nn.Module):
    """LeNet-5. Input N×C×32×32, output N×num_classes logits."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, kernel_size=5),  # C1: 6@28×28
            nn.Tanh(),
            nn.AvgPool2d(2),  # S2: 6@14×14
            nn.Conv2d(6, 16, kernel_size=5),  # C3: 16@10×10
            nn.Tanh(),
            nn.AvgPool2d(2),  # S4: 16@5×5
            nn.Conv2d(16, 120, kernel_size=5),  # C5: 120@1×1
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(120, 84),  # F6
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class MnistCNN(nn.Module):
    """The course's BN CNN. Input N×C×28×28, output N×num_classes logits."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 8, kernel_size=3, padding=1),  # 8@28×28
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8@14×14
            nn.Conv2d(8, 32, kernel_size=5, padding=2),  # 32@14×14
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 32@7×7
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * 7 * 7, 600),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(600, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model(
    task="classification", input_size=(1, 32, 32), num_classes=10, family="lenet",
    paper="LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE 1998",
    mean=MNIST_MEAN, std=MNIST_STD, weights=[LENET5_MNIST],
)
def lenet5(*, num_classes: int = 10, in_chans: int = 1) -> LeNet5:
    """LeNet-5 (tanh, average pooling) for 1×32×32 digits; 61,706 parameters."""
    return LeNet5(num_classes=num_classes, in_chans=in_chans)


@register_model(
    task="classification", input_size=(1, 28, 28), num_classes=10, family="lenet",
    paper="Course notebook 'Images and CNNs' (a LeNet-style BN CNN)",
    mean=MNIST_MEAN, std=MNIST_STD, weights=[MNIST_CNN_MNIST],
)
def mnist_cnn(*, num_classes: int = 10, in_chans: int = 1, dropout: float = 0.5) -> MnistCNN:
    """The course's MNIST CNN: conv8-BN, pool, conv32-BN, pool, FC 1568→600, dropout, FC 600→10."""
    return MnistCNN(num_classes=num_classes, in_chans=in_chans, dropout=dropout)
