"""AlexNet (Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012).

- ``alexnet``: the single-tower layout of torchvision (64-192-384-256-256 filters, from the
  "One weird trick" paper, arXiv:1404.5997), 3×224×224, 61,100,840 parameters; its
  ``state_dict`` keys and shapes equal torchvision's, so torchvision checkpoints load.
- ``alexnet_2012``: the paper's layout: 96-256-384-384-256 filters, the two-GPU grouping of
  conv2/4/5 kept as ``groups=2``, local response normalisation after conv1 and conv2
  (k=2, n=5, α=1e-4, β=0.75), overlapping 3×3/2 max-pooling, 3×227×227 input.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model

PAPER = "Krizhevsky, Sutskever, Hinton, ImageNet Classification with Deep CNNs, NeurIPS 2012"


class AlexNet(nn.Module):
    """torchvision's AlexNet. Input N×C×H×W (H, W ≥ 63), output N×num_classes logits."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class AlexNet2012(nn.Module):
    """The paper's AlexNet. Input N×C×227×227, output N×num_classes logits."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 96, kernel_size=11, stride=4),  # conv1: 96@55×55
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 96@27×27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),  # conv2: 256@27×27
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 256@13×13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),  # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),  # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 256@6×6
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),  # fc7
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),  # fc8
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model(task="classification", input_size=(3, 224, 224), num_classes=1000, family="alexnet",
                paper=PAPER, resize=256)
def alexnet(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet:
    """AlexNet in torchvision's single-tower layout; 61,100,840 parameters."""
    return AlexNet(num_classes=num_classes, in_chans=in_chans, dropout=dropout)


@register_model(task="classification", input_size=(3, 227, 227), num_classes=1000, family="alexnet",
                paper=PAPER, resize=256)
def alexnet_2012(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet2012:
    """AlexNet as in the 2012 paper: 96-256-384-384-256, grouped convs, LRN, 227×227 input."""
    return AlexNet2012(num_classes=num_classes, in_chans=in_chans, dropout=dropout)
