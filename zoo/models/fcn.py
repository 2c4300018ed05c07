"""Fully Convolutional Networks (Long, Shelhamer, Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015) on a VGG16 backbone: FCN-32s, FCN-16s and FCN-8s.

The VGG16 trunk keeps torchvision's ``features.<i>`` keys (so ImageNet VGG16 weights load
into it); fc6/fc7 become 7×7 and 1×1 convolutions; 1×1 ``score_*`` layers predict classes
from fc7, pool4 (16s, 8s) and pool3 (8s); learnable transposed convolutions initialised to
bilinear interpolation upsample and fuse them.

Any input size: instead of the paper's 100-pixel padding of conv1_1 and the crop layers,
the input is zero-padded at the bottom/right to a multiple of 32, every upsampling is an
exact ×s (kernel 2s, stride s, padding s/2), and the output is cropped back, so the result is
N×num_classes×H×W at the input's exact H×W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import register_model
from zoo.models.vgg import CFGS, make_layers

PAPER = "Long, Shelhamer, Darrell, Fully Convolutional Networks for Semantic Segmentation, CVPR 2015"
POOL3, POOL4 = 17, 24  # indices in the VGG16 trunk just after pool3 and pool4


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights (channels×channels×k×k) that make a transposed conv a bilinear upsampler."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt1d[:, None] * filt1d[None, :]
    return weight


def _upsample(channels: int, stride: int) -> nn.ConvTranspose2d:
    up = nn.ConvTranspose2d(channels, channels, 2 * stride, stride=stride, padding=stride // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * stride))
    return up


class FCN(nn.Module):
    """FCN-``stride``s (stride in {32, 16, 8}). Input N×C×H×W, output N×num_classes×H×W logits."""

    def __init__(self, stride: int = 8, num_classes: int = 21, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        if stride not in (32, 16, 8):
            raise ValueError(f"FCN stride must be 32, 16 or 8, got {stride}")
        self.stride = stride
        self.features = make_layers(CFGS["D"], batch_norm=False, in_chans=in_chans)
        # fc6 is a 7x7 convolution with "same" padding, done as an explicit F.pad in forward: on CPU, oneDNN's
        # backward with padding=3 on pool5's small map is ~50x slower (one step of 4 6x8 maps, 1 thread: 239 s
        # against 4.6 s; `benchmarks/bench_segmentation.py --fc6`). Same weights, same result.
        self.fc6 = nn.Conv2d(512, 4096, 7)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        self.drop = nn.Dropout2d(dropout)
        self.score_fr = nn.Conv2d(4096, num_classes, 1)
        if stride <= 16:
            self.score_pool4 = nn.Conv2d(512, num_classes, 1)
            self.upscore2 = _upsample(num_classes, 2)
        if stride == 8:
            self.score_pool3 = nn.Conv2d(256, num_classes, 1)
            self.upscore_pool4 = _upsample(num_classes, 2)
        self.upscore_final = _upsample(num_classes, stride)
        for score in (m for n, m in self.named_children() if n.startswith("score")):
            nn.init.zeros_(score.weight)  # as in the paper's reference models
            nn.init.zeros_(score.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % 32, 0, -h % 32))
        pool3 = self.features[:POOL3](x)
        pool4 = self.features[POOL3:POOL4](pool3)
        pool5 = self.features[POOL4:](pool4)
        fc6 = self.drop(F.relu(self.fc6(F.pad(pool5, (3, 3, 3, 3)))))
        fc7 = self.drop(F.relu(self.fc7(fc6)))
        score = self.score_fr(fc7)
        if self.stride <= 16:
            score = self.upscore2(score) + self.score_pool4(pool4)
        if self.stride == 8:
            score = self.upscore_pool4(score) + self.score_pool3(pool3)
        return self.upscore_final(score)[..., :h, :w]


def _register(fn):
    return register_model(task="segmentation", input_size=(3, 360, 480), num_classes=21, family="fcn",
                          paper=PAPER, resize=360)(fn)


@_register
def fcn32s(*, num_classes: int = 21, in_chans: int = 3) -> FCN:
    """FCN-32s (VGG16): class scores from fc7, upsampled ×32."""
    return FCN(32, num_classes, in_chans)


@_register
def fcn16s(*, num_classes: int = 21, in_chans: int = 3) -> FCN:
    """FCN-16s (VGG16): fc7 scores ×2 fused with pool4 scores, upsampled ×16."""
    return FCN(16, num_classes, in_chans)


@_register
def fcn8s(*, num_classes: int = 21, in_chans: int = 3) -> FCN:
    """FCN-8s (VGG16): fc7, pool4 and pool3 scores fused, upsampled ×8."""
    return FCN(8, num_classes, in_chans)
