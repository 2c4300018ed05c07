"""The transform that turns an image into a model's input, as its weights were trained."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from zoo._registry import Preprocessing, get_spec
from zoo.weights import get_preprocessing


def build_transform(pre: Preprocessing, channels: int) -> Callable[..., torch.Tensor]:
    """uint8 image (H×W×C numpy, PIL or C×H×W tensor) → float32 C×crop_h×crop_w, normalised.

    Resize the shorter side to ``pre.resize`` (antialiased), centre-crop ``pre.crop``, convert to
    ``channels`` (1 = grayscale), scale to [0, 1], pad ``pre.pad`` black pixels (as the training data was padded) and
    normalise with ``pre.mean``/``pre.std``.
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import v2 as T  # imported here: hubconf must stay light

    steps: list[Callable] = [
        T.ToImage(),
        T.Resize(pre.resize, interpolation=InterpolationMode(pre.interpolation), antialias=True),
        T.CenterCrop(pre.crop),
    ]
    if channels == 1:
        steps.append(T.Grayscale(1))
    if pre.pad:
        steps.append(T.Pad(pre.pad, fill=0))
    steps += [T.ToDtype(torch.float32, scale=True), T.Normalize(pre.mean, pre.std)]
    return T.Compose(steps)


def get_transform(name: str) -> Callable[[np.ndarray], torch.Tensor]:
    """The input transform of a model's default weight (or of the architecture, without weights)."""
    spec = get_spec(name)
    transform = build_transform(get_preprocessing(name), spec.input_size[0])

    def apply(image: np.ndarray) -> torch.Tensor:
        if isinstance(image, np.ndarray) and image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        return transform(image)

    return apply
