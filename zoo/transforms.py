"""The transform that turns an image into a model's input, as its weights were trained."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from zoo._registry import get_spec
from zoo.preprocessing import Preprocessing
from zoo.weights import get_preprocessing


def build_transform(pre: Preprocessing, channels: int) -> Callable[..., torch.Tensor]:
    """uint8 image (H×W×C numpy, PIL or C×H×W tensor) → float32 C×H×W, normalised: ``pre``'s steps
    (:class:`zoo.preprocessing.Preprocessing`) for a model with ``channels`` input channels."""
    return pre.image_transform(channels)


def get_transform(name: str) -> Callable[[np.ndarray], torch.Tensor]:
    """The input transform of a model's default weight (or of the architecture, without weights)."""
    spec = get_spec(name)
    transform = build_transform(get_preprocessing(name), spec.input_size[0])

    def apply(image: np.ndarray) -> torch.Tensor:
        if isinstance(image, np.ndarray) and image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        return transform(image)

    return apply
