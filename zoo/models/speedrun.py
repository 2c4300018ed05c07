"""``cifar_speedrun``: a CIFAR-10 network built to train fast on a CPU.

Design after Keller Jordan's airbench94 (https://github.com/KellerJordan/cifar10-airbench, "94% on
CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498), itself descended from David Page's
ResNet-9 ("How to train your ResNet", 2018) and hlb-CIFAR10:

- a frozen 2×2 *whitening* stem: its 24 filters are the ± eigenvectors of the 2×2×3 patch
  covariance of the training images, scaled by 1/sqrt(eigenvalue) (set by
  :func:`init_whitening`); only its bias trains, and only for the first epochs;
- three conv groups ``conv3×3 → max-pool 2 → BN → GELU → conv3×3 → BN → GELU`` whose convs are
  identity-initialised on their first input channels (an implicit residual);
- BatchNorm without a learnable scale (only the bias trains), momentum 0.4, eps 1e-12;
- a global 3×3 max-pool, a bias-free linear head and a fixed 1/9 output scale.

Deviations from airbench94: fp32 (CPU), widths are arguments (default 64/256/256 as airbench94),
and the input is 3×32×32 normalised with the CIFAR-10 training statistics. Shapes for a
N×3×32×32 input: stem N×24×31×31, groups N×w1×15×15, N×w2×7×7, N×w3×3×3, logits N×num_classes.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo._registry import register_model
from zoo.classes import CIFAR10_CLASSES
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, WeightSpec

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class _BatchNorm(nn.BatchNorm2d):
    """BatchNorm with a fixed unit scale; only the bias learns."""

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


class _Conv(nn.Conv2d):
    """3×3 'same' conv without bias, identity (Dirac) initialised on its first input channels."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int | str = "same",
                 bias: bool = False) -> None:
        super().__init__(cin, cout, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        w = self.weight.data
        nn.init.dirac_(w[: w.size(1)])


class _ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _Conv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _BatchNorm(cout)
        self.conv2 = _Conv(cout, cout)
        self.norm2 = _BatchNorm(cout)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class SpeedrunNet(nn.Module):
    """Whitening stem, three conv groups, max-pool, linear head. Input N×C×32×32."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, widths: tuple[int, int, int] = (64, 256, 256),
                 whiten_kernel: int = 2, scale: float = 1 / 9) -> None:
        super().__init__()
        stem_width = 2 * in_chans * whiten_kernel**2
        self.whiten = nn.Conv2d(in_chans, stem_width, kernel_size=whiten_kernel, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        nn.init.zeros_(self.whiten.bias)
        self.act = nn.GELU()
        self.layers = nn.Sequential(
            _ConvGroup(stem_width, widths[0]),
            _ConvGroup(widths[0], widths[1]),
            _ConvGroup(widths[1], widths[2]),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = scale

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.layers(self.act(self.whiten(x)))), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)) * self.scale


@torch.no_grad()
def init_whitening(model: SpeedrunNet, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set the stem to the ± whitening filters of ``images`` (N×C×H×W, normalised floats)."""
    k = model.whiten.kernel_size
    c = images.shape[1]
    patches = images.unfold(2, k[0], 1).unfold(3, k[1], 1).transpose(1, 3).reshape(-1, c, *k).float()
    flat = patches.reshape(len(patches), -1)
    cov = flat.T @ flat / len(flat)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov, UPLO="U")
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)
    filters = (eigenvectors / torch.sqrt(eigenvalues + eps)[:, None]).reshape(-1, c, *k)
    model.whiten.weight.copy_(torch.cat((filters, -filters)))


def _cifar10_weight(tag: str, accuracy: float, sha256: str) -> WeightSpec:
    """A full-schedule speed-run weight (``python -m training.speedrun --seed N``), stored as fp16."""
    return WeightSpec(
        tag=tag, dataset="cifar10", recipe="speedrun_cifar10", metrics={"test_accuracy": accuracy}, sha256=sha256,
        repo_id=f"{HUB_ORG}/cifar_speedrun.{tag}", shipped=True, class_names=CIFAR10_CLASSES,
        preprocessing=Preprocessing(mean=CIFAR10_MEAN, std=CIFAR10_STD, resize=32, crop=(32, 32)),
    )


# Seed 0 (declared before training) is the default; seeds 1 and 2 are the ensemble's other members.
CIFAR10_WEIGHTS = [
    _cifar10_weight("cifar10", 0.934, "1a3f75fca827d52c25f964be77dea336b369459e92eb2ff12bd00ae691bb7f61"),
    _cifar10_weight("cifar10_seed1", 0.9339, "4bb53bb1c573ce2baa860ed0554ada57964267b8cbcaface6db4333039298152"),
    _cifar10_weight("cifar10_seed2", 0.9326, "11cef663e04eb9ea653363f59a22b14cc19cbf9998eba7e78e0e37e26ffb5641"),
]


@register_model(
    task="classification", input_size=(3, 32, 32), num_classes=10, family="speedrun",
    paper="K. Jordan, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU, arXiv:2404.00498 (airbench94)",
    mean=CIFAR10_MEAN, std=CIFAR10_STD, weights=CIFAR10_WEIGHTS,
)
def cifar_speedrun(*, num_classes: int = 10, in_chans: int = 3,
                   widths: tuple[int, int, int] = (64, 256, 256)) -> SpeedrunNet:
    """airbench94-style CIFAR-10 net (whitening stem, 3 conv groups) for a fast CPU speed run; 1.97 M params."""
    return SpeedrunNet(num_classes=num_classes, in_chans=in_chans, widths=tuple(widths))
