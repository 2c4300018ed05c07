"""Segment one image with a segmentation model: class mask, coloured overlay and legend.

``cvzoo segment IMAGE -o OUT.png --model NAME`` and the demos use these functions. ``NAME`` is
one of:

- a registered segmentation model with published weights (``fcn8s_effnet_lite0``: its default
  weight);
- a weights folder (``model.safetensors`` + ``config.json``, as ``python -m training export`` writes);
- a training run folder (``config.json`` + ``checkpoint.pt``, read directly: ``zoo`` never imports
  ``training``).

The image is loaded by :func:`zoo.imageio.load_image` (EXIF orientation, modes, size limits),
scaled so that its longer side is at most ``max_side`` (the CamVid models' 480 by default: about
a second on a 2-core CPU), normalised with the weight's mean/std, segmented, and the class map is
scaled back to the image's size with nearest neighbour.
"""

from __future__ import annotations

import colorsys
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS

DEFAULT_MODEL = "fcn8s_effnet_lite0"


@dataclass
class Segmenter:
    """A segmentation model with what is needed to use it."""

    model: nn.Module
    name: str
    classes: list[str]
    colours: list[tuple[int, int, int]]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str


def palette(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct colours (evenly spaced hues, alternating lightness)."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hls_to_rgb(i / max(1, n), 0.45 if i % 2 else 0.6, 0.75)
        out.append((round(255 * r), round(255 * g), round(255 * b)))
    return out


def _names_and_colours(num_classes: int, classes: Sequence[str] | None = None,
                       colours: Sequence[Sequence[int]] | None = None) -> tuple[list[str], list[tuple[int, ...]]]:
    if classes is None:
        classes = list(CAMVID_CLASSES) if num_classes == len(CAMVID_CLASSES) else [f"class {i}" for i in
                                                                                 range(num_classes)]
    if colours is None or len(colours) != len(classes):
        colours = list(CAMVID_COLOURS) if list(classes) == list(CAMVID_CLASSES) else palette(len(classes))
    return list(classes), [tuple(int(v) for v in c) for c in colours]


def load_segmenter(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Segmenter:
    """A registered model's default weight, a weights folder or a run folder (see the module docstring)."""
    from zoo._registry import get_spec
    from zoo.weights import WeightsNotFoundError, load_folder, read_config, weight_config

    path = Path(name_or_path)
    if path.is_dir():
        config = read_config(path)
        if (path / "checkpoint.pt").is_file():  # a training run folder
            from zoo.factory import create_model

            model = create_model(config["model"], **config.get("model_kwargs", {}))
            state = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(state["ema"] if state.get("ema") else state["model"])
            pre = config.get("preprocessing") or {}
            classes, colours = config.get("class_names"), config.get("colours")
        else:  # a weights folder
            model = load_folder(path)
            pre = config.get("preprocessing") or {}
            classes, colours = config.get("class_names"), config.get("colours")
        spec = get_spec(config["model"])
        if spec.task != "segmentation":
            raise ValueError(f"{path} holds a {spec.task} model ({spec.name}), not a segmentation model")
        mean, std = pre.get("mean", spec.preprocessing.mean), pre.get("std", spec.preprocessing.std)
        source, name = str(path), spec.name
    else:
        spec = get_spec(str(name_or_path))
        if spec.task != "segmentation":
            raise ValueError(f"{spec.name} is a {spec.task} model; segmentation models: "
                             f"{', '.join(_segmentation_models())}")
        from zoo.factory import create_model

        try:
            model = create_model(spec.name, pretrained=True)
        except WeightsNotFoundError as err:
            raise WeightsNotFoundError(f"{err}. Pass --model a weights folder or a training run folder "
                                       f"(python -m training fit {spec.name} --data camvid)") from None
        config = weight_config(spec.name)
        pre = config.get("preprocessing") or {}
        mean, std = pre.get("mean", spec.preprocessing.mean), pre.get("std", spec.preprocessing.std)
        classes, colours, source, name = config.get("class_names"), config.get("colours"), spec.name, spec.name
    num_classes = _num_classes(model)
    classes, colours = _names_and_colours(num_classes, classes, colours)
    return Segmenter(model.eval(), name, classes, colours, tuple(mean), tuple(std), source)


def _segmentation_models() -> list[str]:
    from zoo._registry import list_models

    return list_models(task="segmentation")


def _num_classes(model: nn.Module) -> int:
    with torch.no_grad():
        return int(model.eval()(torch.zeros(1, 3, 32, 32)).shape[1])


@torch.no_grad()
def predict_mask(seg: Segmenter, image: np.ndarray, max_side: int | None = 480) -> np.ndarray:
    """The class map (H×W uint8) of an ``(H, W, 3)`` uint8 RGB image, at the image's own size."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div_(255)
    scale = min(1.0, max_side / max(h, w)) if max_side else 1.0
    if scale < 1.0:
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
    mean = torch.tensor(seg.mean).view(1, -1, 1, 1)
    std = torch.tensor(seg.std).view(1, -1, 1, 1)
    pred = seg.model((x - mean) / std).argmax(1, keepdim=True).to(torch.uint8)
    if pred.shape[-2:] != (h, w):
        pred = F.interpolate(pred, size=(h, w), mode="nearest")
    return pred[0, 0].numpy()


def colourise(mask: np.ndarray, colours: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 colours (ids beyond the palette: black)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(colours)] = np.asarray(colours, dtype=np.uint8)
    return lut[mask]


def overlay(image: np.ndarray, mask: np.ndarray, colours: Sequence[Sequence[int]], alpha: float = 0.55) -> np.ndarray:
    """The image blended with its coloured class map (``alpha``: weight of the colours)."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} and image {image.shape[:2]} differ in size")
    blend = (1 - alpha) * image.astype(np.float32) + alpha * colourise(mask, colours).astype(np.float32)
    return blend.round().clip(0, 255).astype(np.uint8)


def add_legend(image: np.ndarray, classes: Sequence[str], colours: Sequence[Sequence[int]],
               shares: Sequence[float] | None = None) -> np.ndarray:
    """The image with a legend panel on its right: a swatch, the class name and its pixel share."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = image.shape[:2]
    size = max(11, min(18, h // 28))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    row = size + 8
    labels = [f"{c} {100 * s:.1f}%" if shares is not None else c for c, s in
              zip(classes, shares if shares is not None else [0] * len(classes), strict=True)]
    panel_w = 24 + size + max(int(font.getlength(t)) for t in labels)
    canvas = Image.new("RGB", (w + panel_w, max(h, 10 + row * len(classes))), "white")
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (text, colour) in enumerate(zip(labels, colours, strict=True)):
        y = 6 + i * row
        draw.rectangle([w + 8, y, w + 8 + size, y + size], fill=tuple(colour), outline="black")
        draw.text((w + 16 + size, y), text, fill="black", font=font)
    return np.asarray(canvas)


def segment(image: Any, seg: Segmenter | str | os.PathLike = DEFAULT_MODEL, *, alpha: float = 0.55,
            max_side: int | None = 480, legend: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(class mask, overlay with legend, info) for any image :func:`zoo.imageio.load_image` reads."""
    from zoo.imageio import load_image

    if not isinstance(seg, Segmenter):
        seg = load_segmenter(seg)
    notes: list[str] = []
    rgb = load_image(image, notes=notes)
    t0 = time.perf_counter()
    mask = predict_mask(seg, rgb, max_side)
    seconds = time.perf_counter() - t0
    counts = np.bincount(mask.reshape(-1), minlength=len(seg.classes))[: len(seg.classes)]
    shares = counts / max(1, counts.sum())
    out = overlay(rgb, mask, seg.colours, alpha)
    if legend:
        out = add_legend(out, seg.classes, seg.colours, shares.tolist())
    info = {"model": seg.name, "source": seg.source, "seconds": round(seconds, 3), "size": list(rgb.shape[:2]),
            "classes": {c: round(float(s), 4) for c, s in zip(seg.classes, shares, strict=True) if s > 0},
            "notes": notes}
    return mask, out, info


def segment_file(image: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike = DEFAULT_MODEL, *,
                 alpha: float = 0.55, max_side: int | None = 480, mask_out: str | os.PathLike | None = None) -> dict:
    """Write the overlay with its legend to ``out`` (and the raw class ids to ``mask_out``); returns the info."""
    from PIL import Image

    from zoo.weights import atomic_write

    formats = {p: Image.registered_extensions().get(Path(p).suffix.lower()) for p in (out, mask_out) if p}
    if unknown := [str(p) for p, fmt in formats.items() if fmt is None]:
        raise ValueError(f"{', '.join(unknown)}: unknown image file type; name the output .png (or .jpg, .webp)")
    mask, picture, info = segment(image, model, alpha=alpha, max_side=max_side)
    atomic_write(out, lambda f: Image.fromarray(picture).save(f, format=formats[out]))
    if mask_out:
        atomic_write(mask_out, lambda f: Image.fromarray(mask).save(f, format=formats[mask_out]))
    return {**info, "output": str(out)}


def format_info(info: dict) -> str:
    return json.dumps(info)
