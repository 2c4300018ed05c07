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

from demos.callbacks.common import DemoError, class_names, get_model, get_transform, pretrained_models, read_image

DIGIT_BOX = 20  # the longer side of the digit inside the 28x28 image


def mnist_models() -> list[str]:
    """Grey 10-class classifiers with weights (``lenet5``, ``mnist_cnn`` once trained)."""
    from zoo import get_spec

    return [n for n in pretrained_models("classification", 1) if get_spec(n).num_classes == 10]


def preprocess_digit(image: Any) -> np.ndarray:
    """A drawing (any image, dark-on-light or light-on-dark) -> 28x28 uint8, white digit on black."""
    if image is None or (isinstance(image, dict) and image.get("composite") is None):
        raise DemoError("The canvas is empty: draw a digit first.")
    rgb = read_image(image)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 127:
        grey = 255 - grey
    if int(grey.max()) - int(grey.min()) < 32:
        raise DemoError("The canvas is empty: draw a digit first.")
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    crop = ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    f = DIGIT_BOX / max(h, w)
    small = cv2.resize(crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.uint8)
    sh, sw = small.shape
    m = cv2.moments(small)
    cy, cx = (m["m01"] / m["m00"], m["m10"] / m["m00"]) if m["m00"] > 0 else (sh / 2, sw / 2)
    top = int(np.clip(round(14 - cy), 0, 28 - sh))
    left = int(np.clip(round(14 - cx), 0, 28 - sw))
    out[top: top + sh, left: left + sw] = small
    return out


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


def digits(drawing: Any, models: list[str] | str | None = None) -> tuple[
        np.ndarray, Any, list[tuple[np.ndarray, str]], str]:
    """The Digits callback: ``(28x28 preprocessed image, plotly figure, feature-map gallery, markdown)``."""
    from demos.callbacks.classify import topk_figure

    avail = mnist_models()
    if not avail:
        raise DemoError("No trained MNIST model is available yet (lenet5 or mnist_cnn with weights); "
                        "train one with `python -m training fit lenet5 --data mnist`.")
    if isinstance(models, str):
        models = [models]
    models = list(models or avail)
    x28 = preprocess_digit(drawing)
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
    note = "\n".join(f"- **{r['model']}**: {r['top'][0][0]} ({100 * r['top'][0][1]:.1f}%)" for r in results)
    return x28, topk_figure(results), gallery, note
