"""Digits tab: a drawn digit, the course's MNIST preprocessing, the MNIST models' predictions and
their first layers' feature maps.

The course's preprocessing (MNIST's own recipe, LeCun et al.): grey; invert when the background
is bright (MNIST digits are white on black); Otsu threshold; crop to the ink's bounding box;
scale the longer side to 20 pixels (area interpolation, which anti-aliases the strokes); paste
into a 28x28 black image so that the centre of mass sits at the centre. The result then goes
through each model's own transform (``zoo.get_transform``: e.g. LeNet-5's 32x32 input).
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from demos.callbacks.common import (
    DemoError,
    class_names,
    fit_size,
    get_model,
    get_transform,
    pretrained_models,
    read_image,
    to_u8,
)

DIGIT_BOX = 20  # the longer side of the digit inside the 28x28 image
PHOTO_MAX_SIDE = 640  # photos are downscaled (area) to this longer side before the steps
MIN_BLOB_SHARE = 0.1  # ink blobs smaller than this share of the largest one are specks, not strokes


def mnist_models() -> list[str]:
    """Grey 10-class classifiers with weights (``lenet5``, ``mnist_cnn`` once trained)."""
    from zoo import get_spec

    return [n for n in pretrained_models("classification", 1) if get_spec(n).num_classes == 10]


# ---- the preprocessing, one named step a function (the sketchpad and the photo path both call these) --------

def to_grey(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 luma (ITU-R BT.601 weights, OpenCV's)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def otsu_threshold(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """``(H, W)`` uint8 -> (binary ``(H, W)`` uint8 in {0, 255}, Otsu's threshold in grey levels).

    The pixels above the threshold become 255. A 3x3 Gaussian blur first keeps sensor noise in
    photos from becoming specks (a drawing is unchanged but for its anti-aliased rim).
    """
    t, binary = cv2.threshold(cv2.GaussianBlur(grey, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary, float(t)


def invert_if_light(binary: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """White ink on black, as MNIST: invert when the border of ``grey`` is mostly light (paper, canvas)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return 255 - binary if np.median(border) > 127 else binary


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the ink: blobs of at least ``MIN_BLOB_SHARE`` of the largest blob's area (specks
    and, when others remain, blobs touching the image border such as a page edge are left out)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((ink > 0).astype(np.uint8), connectivity=8)
    if n <= 1:
        raise DemoError("No digit found: the image is blank after thresholding. Draw or photograph a dark digit "
                        "on light paper (or a light one on a dark background).")
    blobs = list(range(1, n))
    h, w = ink.shape
    inside = [i for i in blobs if stats[i, cv2.CC_STAT_LEFT] > 0 and stats[i, cv2.CC_STAT_TOP] > 0
              and stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] < w
              and stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] < h]
    blobs = inside or blobs
    largest = max(stats[i, cv2.CC_STAT_AREA] for i in blobs)
    keep = [i for i in blobs if stats[i, cv2.CC_STAT_AREA] >= MIN_BLOB_SHARE * largest]
    mask = np.isin(labels, keep)
    ys, xs = np.nonzero(mask)
    return np.where(mask, ink, 0).astype(np.uint8)[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def fit_box(crop: np.ndarray, box: int = DIGIT_BOX) -> np.ndarray:
    """Scale the crop so its longer side is ``box`` pixels (area interpolation: anti-aliased strokes)."""
    h, w = crop.shape
    f = box / max(h, w)
    return cv2.resize(crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def centre_by_mass(small: np.ndarray, size: int = 28) -> np.ndarray:
    """Paste ``small`` into a black ``size``x``size`` image so that its centre of mass is at the centre."""
    out = np.zeros((size, size), np.uint8)
    sh, sw = small.shape
    m = cv2.moments(small)
    cy, cx = (m["m01"] / m["m00"], m["m10"] / m["m00"]) if m["m00"] > 0 else (sh / 2, sw / 2)
    top = int(np.clip(round(size / 2 - cy), 0, size - sh))
    left = int(np.clip(round(size / 2 - cx), 0, size - sw))
    out[top: top + sh, left: left + sw] = small
    return out


def digit_steps(image: Any, empty_message: str = "The canvas is empty: draw a digit first.") -> list[
        tuple[str, np.ndarray]]:
    """Every step of the course's preprocessing, in order, as ``(name, uint8 image)``; the last is the
    ``28x28`` white-on-black digit that goes through each model's own transform.

    Steps: grayscale, Otsu threshold, invert (when the background is light), crop to the ink,
    resize (longer side ``DIGIT_BOX`` px), centre by mass in 28x28. Inputs larger than
    ``PHOTO_MAX_SIDE`` are downscaled first. Raises :class:`DemoError` when there is no ink.
    """
    if image is None or (isinstance(image, dict) and image.get("composite") is None
                         and image.get("background") is None):
        raise DemoError(empty_message)
    rgb = fit_size(read_image(image), PHOTO_MAX_SIDE)
    grey = to_grey(rgb)
    if int(grey.max()) - int(grey.min()) < 32:
        raise DemoError(empty_message)
    binary, t = otsu_threshold(grey)
    ink = invert_if_light(binary, grey)
    crop = crop_to_ink(ink)
    small = fit_box(crop)
    return [("grayscale", grey), (f"Otsu threshold ({t:.0f})", binary), ("invert: white ink on black", ink),
            (f"crop to the ink ({crop.shape[1]}x{crop.shape[0]})", crop),
            (f"resize: longer side {DIGIT_BOX} px", small), ("centred by mass in 28x28", centre_by_mass(small))]


def preprocess_digit(image: Any) -> np.ndarray:
    """A drawing (any image, dark-on-light or light-on-dark) -> 28x28 uint8, white digit on black."""
    return digit_steps(image)[-1][1]


def feature_grid(maps: torch.Tensor, cols: int = 8, cell: int = 48, gap: int = 2) -> np.ndarray:
    """``(C, h, w)`` activations -> one uint8 grey mosaic (each map scaled to its own range)."""
    maps = maps.detach().float().cpu()
    c = maps.shape[0]
    cols = min(cols, c)
    rows = (c + cols - 1) // cols
    grid = np.full((rows * (cell + gap) - gap, cols * (cell + gap) - gap), 255, np.uint8)
    for i in range(c):
        m = maps[i].numpy()
        lo, hi = float(m.min()), float(m.max())
        m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        tile = cv2.resize((m * 255).astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST)
        r, k = divmod(i, cols)
        grid[r * (cell + gap): r * (cell + gap) + cell, k * (cell + gap): k * (cell + gap) + cell] = tile
    return grid


def first_layer_maps(model: nn.Module, x: torch.Tensor, layers: int = 2) -> tuple[torch.Tensor, list[tuple[str, Any]]]:
    """Run ``model`` on ``x`` and capture the outputs of its first ``layers`` Conv2d modules."""
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)][:layers]
    captured: list[tuple[str, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o, n=n: captured.append((n, o[0]))) for n, m in convs]
    try:
        with torch.inference_mode():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out, captured


def _check_models(models: list[str] | str | None) -> list[str]:
    avail = mnist_models()
    if not avail:
        raise DemoError("No trained MNIST model is available yet (lenet5 or mnist_cnn with weights); "
                        "train one with `python -m training fit lenet5 --data mnist`.")
    if isinstance(models, str):
        models = [models]
    return list(models or avail)


def predict_digit(x28: np.ndarray, models: list[str]) -> tuple[list[dict[str, Any]], list[tuple[np.ndarray, str]]]:
    """Each model's top-5 on a ``28x28`` white-on-black uint8 digit (through the model's own transform:
    MNIST's mean 0.1307 and std 0.3081, LeNet-5's 2-pixel pad) and its first two conv layers' maps."""
    results, gallery = [], []
    for name in models:
        model = get_model(name)
        t0 = time.perf_counter()
        x = get_transform(name)(x28).unsqueeze(0)
        logits, maps = first_layer_maps(model, x)
        latency = (time.perf_counter() - t0) * 1000
        probs = logits.float().softmax(1)[0]
        p, idx = probs.topk(5)
        names = class_names(name)
        results.append({"model": name, "latency_ms": round(latency, 1),
                        "top": [(names[i], float(v)) for v, i in zip(p.tolist(), idx.tolist(), strict=True)]})
        gallery += [(feature_grid(o), f"{name} · {layer} ({o.shape[0]} maps)") for layer, o in maps]
    return results, gallery


def _note(results: list[dict[str, Any]]) -> str:
    return "\n".join(f"- **{r['model']}**: {r['top'][0][0]} ({100 * r['top'][0][1]:.1f}%)" for r in results)


def digits(drawing: Any, models: list[str] | str | None = None) -> tuple[
        np.ndarray, Any, list[tuple[np.ndarray, str]], str]:
    """The Digits callback: ``(28x28 preprocessed image, plotly figure, feature-map gallery, markdown)``."""
    from demos.callbacks.classify import topk_figure

    models = _check_models(models)
    x28 = preprocess_digit(drawing)
    results, gallery = predict_digit(x28, models)
    return x28, topk_figure(results), gallery, _note(results)


def digit_photo(photo: Any, models: list[str] | str | None = None) -> tuple[
        list[tuple[np.ndarray, str]], Any, list[dict[str, Any]], str]:
    """The lab's "digit from a photo" callback: ``(every step as a gallery [(uint8 image, step)], plotly top-5
    figure, results, markdown)``.

    The steps are :func:`digit_steps` (the sketchpad's own), then the normalised model input
    (``(x / 255 - 0.1307) / 0.3081``, shown rescaled to 0-255). A photo larger than
    ``PHOTO_MAX_SIDE`` (640 px) is downscaled first.
    """
    from demos.callbacks.classify import topk_figure

    models = _check_models(models)
    steps = digit_steps(photo, "No digit found: the photo is one flat tone. Photograph a dark digit on light paper.")
    x28 = steps[-1][1]
    x = get_transform(models[0])(x28)[0].numpy()
    steps.append((f"normalised ({models[0]}): mean 0.1307, std 0.3081; range [{x.min():.2f}, {x.max():.2f}]",
                  to_u8(x)))
    results, _ = predict_digit(x28, models)
    return [(img, name) for name, img in steps], topk_figure(results), results, _note(results)
