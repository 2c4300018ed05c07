"""What the network sees: the input plan (:func:`plan_input`) and the recipe's augmentations.

- :func:`plan_input`: how a data set's images become a model's input (a
  :class:`zoo.preprocessing.Preprocessing`) and the builder arguments that make the model fit;
- :func:`sample_transform`: per-image augmentations on uint8 images (torchvision v2);
- :func:`post_transform`: the batch transform on normalised images (the course's rotation).

The batch augmentations themselves (random crop, flip, cutout) are :class:`training.data.Augment`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from training.data import ArrayDataset, RandomRotation
from training.errors import ConfigError
from training.recipes import Recipe
from zoo import get_spec
from zoo.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing


def normalisation(model_name: str, recipe: Recipe) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the recipe's ``normalize`` names: the model's registry default, ImageNet's or none."""
    if recipe.normalize == "model":
        pre = get_spec(model_name).preprocessing
        return pre.mean, pre.std
    if recipe.normalize == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    if recipe.normalize == "none":
        return (0.0,), (1.0,)
    raise ConfigError(f"unknown normalize {recipe.normalize!r}; use model, imagenet or none")


def plan_input(model_name: str, data: ArrayDataset, recipe: Recipe,
               model_kwargs: dict[str, Any]) -> tuple[Preprocessing, dict[str, Any]]:
    """How ``data``'s images (N, C, H, W) become ``model_name``'s input, and the builder arguments that
    make them fit: a builder that takes ``in_chans`` gets the data's channel count, otherwise the
    images are converted; ``num_classes`` follows the data. The recipe's ``input_size`` resizes,
    ``center_crop`` crops (the course's CenterCrop), ``input_pad`` pads (MNIST 28 -> LeNet-5's 32)."""
    spec = get_spec(model_name)
    if spec.task != "classification":
        raise ConfigError(f"{model_name} is a {spec.task} model; classification recipes train classification models")
    kwargs = {**recipe.model_kwargs, **model_kwargs}
    params = set(inspect.signature(spec.builder).parameters)
    c_model, (c_data, h, w) = spec.input_size[0], data.image_shape
    channels = None
    if c_data != kwargs.get("in_chans", c_model):
        if "in_chans" in params and "in_chans" not in kwargs:
            kwargs["in_chans"] = c_data
        else:
            channels = kwargs.get("in_chans", c_model)
    if "num_classes" in params and "num_classes" not in kwargs and len(data.classes) != spec.num_classes:
        kwargs["num_classes"] = len(data.classes)
    mean, std = normalisation(model_name, recipe)
    if recipe.input_size:
        resize, crop = min(recipe.input_size), tuple(recipe.input_size)
    elif recipe.center_crop:
        resize, crop = min(h, w), (recipe.center_crop, recipe.center_crop)
    else:
        resize, crop = min(h, w), (h, w)
    pre = Preprocessing(mean=tuple(mean), std=tuple(std), resize=resize, crop=crop, pad=recipe.input_pad,
                        channels=channels)
    return pre.with_channels(kwargs.get("in_chans", channels or c_data)), kwargs


def sample_transform(r: Recipe) -> Callable | None:
    """Per-sample augmentations (rotation, colour jitter) as torchvision v2 transforms, applied to the
    uint8 images before preprocessing (the rotation moves to :func:`post_transform` when the recipe
    keeps the course's order)."""
    from torchvision.transforms import v2

    ts: list[Any] = []
    if r.rotate and not r.course_order:
        ts.append(v2.RandomRotation(r.rotate))
    if r.jitter:
        b, c, s, hue = r.jitter
        ts.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=hue))
    return v2.Compose(ts) if ts else None


def post_transform(r: Recipe) -> Callable | None:
    """The batch transform on the normalised float images: the course's ``RandomRotation`` when the
    recipe keeps the course's order (``CenterCrop`` -> ``Normalize`` -> ``RandomRotation``, so the
    rotated-in corners are 0 after normalisation, i.e. the mean colour), batched on the device and equal
    to torchvision's per-image transform under the same seed (:class:`training.data.RandomRotation`)."""
    return RandomRotation(tuple(r.rotate)) if r.rotate and r.course_order else None
