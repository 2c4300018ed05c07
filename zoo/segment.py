"""Semantic segmentation of one image: the class mask, its colours, the overlay and a legend.

This is the project's one segmenter: ``cvzoo segment IMAGE -o OUT.png --model NAME`` (through
:func:`segment_file`) and the Gradio app's Segment tab (``demos/callbacks/segment.py``) both
predict with :func:`predict_mask` and draw with :func:`colourise` / :func:`overlay` in the
colours of :func:`class_colours`. ``NAME`` is one of:

- a registered segmentation model with published weights (``fcn8s_effnet_lite0``: its default
  weight);
- a weights folder (``model.safetensors`` + ``config.json``, as ``python -m training export`` writes);
- a training run folder (``config.json`` + ``checkpoint.pt``, read directly: ``zoo`` never imports
  ``training``).

One preprocessing path (:func:`predict_mask`): the ``(H, W, 3)`` uint8 image is scaled down
(antialiased bilinear) so that its longer side is at most ``max_side`` pixels (:data:`MAX_SIDE`,
480 by default: CamVid's own width, so CamVid-sized photos are not resized; a second or less on a
2-core CPU for larger photos, whose cost would otherwise grow with their area), normalised with
the weight's mean/std and segmented; the ``(K, h, w)`` logits are then resized bilinearly to
``(H, W)`` before the arg-max, so the mask matches the image pixel for pixel with smooth class
boundaries (:func:`upsample_argmax`, in bands of rows so a 40-megapixel photo needs a bounded
amount of memory).
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
MAX_SIDE = 480  # px: the longer side the model sees by default (None or 0: the image's own size)
BAND_ELEMENTS = 1 << 24  # logits upsampled at a time by upsample_argmax (64 MB of float32)

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Segmenter:
    """A segmentation model (eval mode) with what using it needs.

    ``classes[i]`` names class id ``i`` and ``colours[i]`` draws it (RGB, 0..255); ``mean`` and
    ``std`` normalise pixel values in [0, 1], per channel; ``source`` says where the weights came
    from (a registry name or a folder).
    """

    model: nn.Module
    name: str
    classes: tuple[str, ...]
    colours: tuple[Colour, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str


def palette(n: int) -> list[Colour]:
    """``n`` distinct RGB colours (0..255): evenly spaced hues, alternating lightness."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hls_to_rgb(i / max(1, n), 0.45 if i % 2 else 0.6, 0.75)
        out.append((round(255 * r), round(255 * g), round(255 * b)))
    return out


def class_colours(classes: Sequence[str], colours: Sequence[Sequence[int]] | None = None) -> tuple[Colour, ...]:
    """One RGB colour a class: ``colours`` when there is one a class (a weight's ``config.json``), else
    SegNet's colours for CamVid's classes, else :func:`palette`."""
    if colours is None or len(colours) != len(classes):
        colours = CAMVID_COLOURS if tuple(classes) == CAMVID_CLASSES else palette(len(classes))
    return tuple((int(r), int(g), int(b)) for r, g, b in colours)


def default_classes(num_classes: int) -> tuple[str, ...]:
    """Class names for a model known only by its number of outputs: CamVid's for 11, else ``class i``."""
    return CAMVID_CLASSES if num_classes == len(CAMVID_CLASSES) else tuple(f"class {i}" for i in range(num_classes))


def make_segmenter(model: nn.Module, name: str, *, classes: Sequence[str] | None = None,
                   colours: Sequence[Sequence[int]] | None = None, mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None, source: str | None = None) -> Segmenter:
    """A :class:`Segmenter` for ``model``, an instance of registry architecture ``name``.

    Left out: ``classes`` from the number of outputs (:func:`default_classes`), ``colours`` from
    :func:`class_colours`, ``mean``/``std`` from the default weight's preprocessing (the registry's
    when there is no weight), ``source`` is ``name``.
    """
    from zoo.weights import get_preprocessing

    if mean is None or std is None:
        pre = get_preprocessing(name)
        mean, std = pre.mean if mean is None else mean, pre.std if std is None else std
    model = model.eval()
    classes = tuple(classes) if classes is not None else default_classes(_num_classes(model))
    return Segmenter(model, name, classes, class_colours(classes, colours), tuple(mean), tuple(std), source or name)


def load_segmenter(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Segmenter:
    """A registered model's default weight, a weights folder or a run folder (see the module docstring).

    Raises ``ValueError`` for a model of another task, ``WeightsNotFoundError`` (a ``LookupError``)
    when there are no weights.
    """
    from zoo._registry import get_spec, list_models
    from zoo.factory import create_model
    from zoo.weights import WeightsNotFoundError, load_folder, read_config, weight_config

    path = Path(name_or_path)
    if path.is_dir():
        config = read_config(path)
        spec = get_spec(config["model"])
        if spec.task != "segmentation":
            raise ValueError(f"{path} holds a {spec.task} model ({spec.name}), not a segmentation model")
        if (path / "checkpoint.pt").is_file():  # a training run folder
            model = create_model(spec.name, **config.get("model_kwargs", {}))
            state = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(state["ema"] if state.get("ema") else state["model"])
        else:  # a weights folder
            model = load_folder(path)
        source = str(path)
    else:
        spec = get_spec(str(name_or_path))
        if spec.task != "segmentation":
            raise ValueError(f"{spec.name} is a {spec.task} model; segmentation models: "
                             f"{', '.join(list_models(task='segmentation'))}")
        try:
            model = create_model(spec.name, pretrained=True)
        except WeightsNotFoundError as err:
            raise WeightsNotFoundError(f"{err}. Pass --model a weights folder or a training run folder "
                                       f"(python -m training fit {spec.name} --data camvid)") from None
        config = weight_config(spec.name)
        source = spec.name
    # run and weights folders share one config schema (zoo.artifacts)
    pre, classes, colours = config.get("preprocessing") or {}, config.get("class_names"), config.get("colours")
    if classes is not None and len(classes) != _num_classes(model):
        classes = None  # names that do not fit the outputs: numbered classes rather than wrong names
    return make_segmenter(model, spec.name, classes=classes, colours=colours, source=source,
                          mean=pre.get("mean", spec.preprocessing.mean), std=pre.get("std", spec.preprocessing.std))


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(N, K, h, w)`` logits of a batch; torchvision-style models return ``{"out": logits}``."""
    out = model(x)
    return (out["out"] if isinstance(out, dict) else out).float()


def _num_classes(model: nn.Module) -> int:
    with torch.inference_mode():
        return int(_logits(model.eval(), torch.zeros(1, 3, 32, 32)).shape[1])


def upsample_argmax(logits: torch.Tensor, size: tuple[int, int], band_elements: int = BAND_ELEMENTS) -> torch.Tensor:
    """The ``(H, W)`` int64 arg-max over classes of ``(K, h, w)`` logits resized bilinearly to ``size = (H, W)``.

    The same numbers as ``F.interpolate(logits[None], size, mode="bilinear", align_corners=False)``
    then ``argmax(1)``, computed separably: the width pass with ``F.interpolate`` (``(K, h, W)``),
    then the height pass in bands of rows so that at most about ``band_elements`` upsampled logits
    exist at a time (11 CamVid classes at 6000x4000 would otherwise be 1 GB of float32).
    """
    k, h, w = logits.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return logits.argmax(0)
    wide = F.interpolate(logits[None].float(), size=(h, out_w), mode="bilinear", align_corners=False)[0]
    # source row of each output row, as F.interpolate computes it (align_corners=False, clamped at 0)
    src = ((torch.arange(out_h, dtype=torch.float64) + 0.5) * (h / out_h) - 0.5).clamp(min=0)
    top = src.floor().long().clamp(max=h - 1)
    bottom = (top + 1).clamp(max=h - 1)
    frac = (src - top).float().view(1, -1, 1)
    mask = torch.empty(out_h, out_w, dtype=torch.long)
    rows = max(1, band_elements // max(1, k * out_w))
    for r in range(0, out_h, rows):
        band = slice(r, r + rows)
        mask[band] = torch.lerp(wide[:, top[band]], wide[:, bottom[band]], frac[:, band]).argmax(0)
    return mask


def check_image(image: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``image`` is an ``(H, W, 3)`` uint8 RGB array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {shape} {dtype}")


@torch.inference_mode()
def predict_mask(seg: Segmenter, image: np.ndarray, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """The class map of an ``(H, W, 3)`` uint8 RGB image at the image's own size: ``(H, W)`` class ids,
    uint8 (int32 for more than 256 classes).

    The model sees the image scaled down so that its longer side is at most ``max_side`` px (None
    or 0: as it is); its logits are resized back to ``(H, W)`` with :func:`upsample_argmax`.
    """
    check_image(image)
    h, w = image.shape[:2]
    x = torch.tensor(image).permute(2, 0, 1)[None].float().div_(255)
    scale = min(1.0, max_side / max(h, w)) if max_side else 1.0
    if scale < 1.0:
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
    mean = torch.tensor(seg.mean).view(1, -1, 1, 1)
    std = torch.tensor(seg.std).view(1, -1, 1, 1)
    logits = _logits(seg.model, (x - mean) / std)[0]
    mask = upsample_argmax(logits, (h, w))
    return mask.numpy().astype(np.uint8 if logits.shape[0] <= 256 else np.int32)


def class_shares(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes,)`` float64: the fraction of the mask's pixels that each class id covers."""
    counts = np.bincount(np.asarray(mask).reshape(-1), minlength=num_classes)[:num_classes]
    return counts / max(1, np.asarray(mask).size)


def colourise(mask: np.ndarray, colours: Sequence[Sequence[int]]) -> np.ndarray:
    """``(H, W)`` class ids -> ``(H, W, 3)`` uint8 RGB: id ``i`` in ``colours[i]``; ids outside the
    colours (CamVid's void, 11) black."""
    ids = np.asarray(mask)
    lut = np.zeros((len(colours) + 1, 3), dtype=np.uint8)
    lut[: len(colours)] = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    return lut[np.where((ids >= 0) & (ids < len(colours)), ids, len(colours))]


def overlay(image: np.ndarray, mask: np.ndarray, colours: Sequence[Sequence[int]], alpha: float = 0.55) -> np.ndarray:
    """``(H, W, 3)`` uint8: the image blended with its coloured class map; ``alpha`` in [0, 1] is the
    colours' weight (0: the image, 1: the colours only; values outside are clipped)."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} and image {image.shape[:2]} differ in size")
    a = float(np.clip(alpha, 0.0, 1.0))
    blend = (1 - a) * image.astype(np.float32) + a * colourise(mask, colours).astype(np.float32)
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
            max_side: int | None = MAX_SIDE, legend: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(class mask (H, W), overlay (H, W', 3) uint8 with the legend to its right, info)`` for any image
    :func:`zoo.imageio.load_image` reads; ``info`` holds the model, the seconds taken, the size and
    each present class's share of the pixels."""
    from zoo.imageio import load_image

    if not isinstance(seg, Segmenter):
        seg = load_segmenter(seg)
    notes: list[str] = []
    rgb = load_image(image, notes=notes)
    t0 = time.perf_counter()
    mask = predict_mask(seg, rgb, max_side)
    seconds = time.perf_counter() - t0
    shares = class_shares(mask, len(seg.classes))
    out = overlay(rgb, mask, seg.colours, alpha)
    if legend:
        out = add_legend(out, seg.classes, seg.colours, shares.tolist())
    info = {"model": seg.name, "source": seg.source, "seconds": round(seconds, 3), "size": list(rgb.shape[:2]),
            "classes": {c: round(float(s), 4) for c, s in zip(seg.classes, shares, strict=True) if s > 0},
            "notes": notes}
    return mask, out, info


def segment_file(image: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike = DEFAULT_MODEL, *,
                 alpha: float = 0.55, max_side: int | None = MAX_SIDE,
                 mask_out: str | os.PathLike | None = None) -> dict[str, Any]:
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
    """The info of :func:`segment_file` as one line of JSON (what ``cvzoo segment`` prints)."""
    return json.dumps(info)
