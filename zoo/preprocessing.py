"""How an image becomes a model's input: one type, one serialised form, for training and inference.

A :class:`Preprocessing` is declared by the registry (the architecture's default), written by
``training`` into a run folder's ``config.json`` and by ``training export`` into a weights
folder's ``config.json``, always as ``"preprocessing": Preprocessing.to_dict()``, and read back
with :meth:`Preprocessing.from_dict` (which also reads the two formats of ``config_version`` 1).

The steps, in order, for a uint8 image of any size:

1. ``resize``: scale so the shorter side is ``resize`` pixels (antialiased, ``interpolation``);
   ``None`` keeps the size (training data already at the trained size, segmentation at full size);
2. ``crop``: centre-crop to ``crop`` = (H, W) pixels; ``None``: no crop;
3. ``channels``: 1 = grey (ITU-R 601 luma, as torchvision's ``Grayscale``), 3 = RGB (grey
   repeated); ``None``: keep;
4. ``pad``: ``pad`` pixels of zeros on every side (MNIST's 28×28 digits in LeNet-5's 32×32);
5. scale to [0, 1] and normalise with ``mean``/``std`` (one value per channel).

The same object runs on a batch of training images on the device (``pre(batch)``) and builds the
torchvision transform of one uploaded image (``pre.image_transform()``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

# ImageNet statistics, as used by torchvision's weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """uint8 image -> normalised float input; see the module docstring for the order of the steps."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None
    crop: tuple[int, int] | None = None
    pad: int = 0
    channels: int | None = None
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean {self.mean} and std {self.std} differ in length")
        if self.crop is not None and len(self.crop) != 2:
            raise ValueError(f"crop must be (height, width), got {self.crop}")

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(H, W) of the model input, or ``None`` when it follows the image."""
        return None if self.crop is None else (self.crop[0] + 2 * self.pad, self.crop[1] + 2 * self.pad)

    # -------------------------------------------------------------------------------- serialised form

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "resize": self.resize,
                "crop": list(self.crop) if self.crop else None, "pad": self.pad, "channels": self.channels,
                "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """The form :meth:`to_dict` writes, or either form of ``config_version`` 1: a weight's
        ``{"resize", "crop": [h, w], "pad", "mean", "std"}`` (the same steps) or a run folder's
        ``{"mean", "std", "size", "pad", "channels", "crop": side}``, whose steps ran pad, crop, resize
        to ``size``: no recipe combined two of them, so each maps to one step here."""
        crop = d.get("crop")
        if "size" in d or isinstance(crop, int):  # a version-1 run folder
            size = d.get("size")
            side = int(crop) if crop else None
            return cls(mean=tuple(d["mean"]), std=tuple(d["std"]),
                       resize=min(size) if size else None,
                       crop=tuple(size) if size else ((side, side) if side else None),
                       pad=int(d.get("pad") or 0), channels=d.get("channels"))
        return cls(mean=tuple(d["mean"]), std=tuple(d["std"]), resize=d.get("resize"),
                   crop=tuple(crop) if crop else None, pad=int(d.get("pad") or 0), channels=d.get("channels"),
                   interpolation=d.get("interpolation", "bilinear"))

    # -------------------------------------------------------------------------------- a batch

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) on any device -> float32 (N, C', H', W'), normalised."""
        return self.apply(x.float().div_(255))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """float (N, C, H, W) scaled to [0, 1] -> float32 (N, C', H', W'), normalised (steps 1-5)."""
        if self.resize and min(x.shape[-2:]) != self.resize:
            h, w = x.shape[-2:]
            s = self.resize / min(h, w)
            x = F.interpolate(x, size=(round(h * s), round(w * s)), mode=self.interpolation, align_corners=False,
                              antialias=True)
        if self.crop and tuple(x.shape[-2:]) != tuple(self.crop):
            from torchvision.transforms.v2.functional import center_crop

            x = center_crop(x, list(self.crop))
        if self.channels and x.shape[1] != self.channels:
            if x.shape[1] == 1:
                x = x.expand(-1, self.channels, -1, -1)
            else:
                from torchvision.transforms.v2.functional import rgb_to_grayscale

                x = rgb_to_grayscale(x)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    # -------------------------------------------------------------------------------- one image

    def image_transform(self, channels: int | None = None) -> Callable[..., torch.Tensor]:
        """torchvision v2 transform of one uint8 image (H×W×C numpy, PIL or C×H×W tensor) -> float32
        C×H×W; ``channels`` (the model's) is used when the preprocessing does not name its own."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import v2 as T  # imported here: hubconf must stay light

        steps: list[Callable] = [T.ToImage()]
        if self.resize:
            steps.append(T.Resize(self.resize, interpolation=InterpolationMode(self.interpolation), antialias=True))
        if self.crop:
            steps.append(T.CenterCrop(list(self.crop)))
        if (self.channels or channels) == 1:
            steps.append(T.Grayscale(1))
        if self.pad:
            steps.append(T.Pad(self.pad, fill=0))
        steps += [T.ToDtype(torch.float32, scale=True), T.Normalize(list(self.mean), list(self.std))]
        return T.Compose(steps)

    def with_channels(self, channels: int) -> Preprocessing:
        """The same steps for ``channels`` input channels (mean/std averaged when the count changes)."""
        mean, std = self.mean, self.std
        if len(mean) != channels:
            mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
        return Preprocessing(mean=tuple(mean), std=tuple(std), resize=self.resize, crop=self.crop, pad=self.pad,
                             channels=self.channels, interpolation=self.interpolation)


def default_preprocessing(input_size: Sequence[int], mean: Sequence[float] | None = None,
                          std: Sequence[float] | None = None, resize: int | None = None) -> Preprocessing:
    """The registry's default for an architecture of ``input_size`` (C, H, W): ImageNet statistics for
    3 channels unless given, 0.5/0.5 otherwise; resize to ``resize`` (default H) and crop (H, W)."""
    chans, height, width = input_size
    if mean is None:
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if chans == 3 else ((0.5,) * chans, (0.5,) * chans)
    return Preprocessing(mean=tuple(mean), std=tuple(std or mean), resize=resize or height, crop=(height, width))
