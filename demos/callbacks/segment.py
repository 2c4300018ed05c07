"""Segment tab: a photo -> a class mask, overlaid with adjustable opacity, a legend and per-class pixel shares.

Any segmentation model with weights in the registry is offered (``fcn8s_effnet_lite0`` on CamVid
once published). The image is resized so its longer side is the weight's input width (multiple
of 32), normalised with the weight's mean/std, and the logits are resized back to the photo's
size before the arg-max, so the mask matches the photo pixel for pixel.
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from demos.callbacks.common import DemoError, class_names, fit_size, get_model, pretrained_models, read_image

MAX_SIDE = 1024  # photos are shown (and the mask computed) at most this large


def segmentation_models() -> list[str]:
    return pretrained_models("segmentation")


def palette(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """``(K, 3)`` uint8 colours: CamVid's SegNet colours for CamVid's classes, else spread hues."""
    from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS

    if tuple(names) == CAMVID_CLASSES:
        return np.array(CAMVID_COLOURS, np.uint8)
    k = len(names)
    hsv = np.stack([((np.arange(k) * 0.618033988749895) % 1.0 * 179).astype(np.uint8),
                    np.full(k, 210, np.uint8), np.full(k, 220, np.uint8)], axis=1)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]


def predict_mask(rgb: np.ndarray, name: str) -> np.ndarray:
    """``(H, W)`` int64 class indices for ``rgb`` with model ``name``."""
    from zoo import get_preprocessing, get_spec

    model = get_model(name)
    pre = get_preprocessing(name)
    target = max(pre.crop) if pre.crop else max(get_spec(name).input_size[1:])
    h, w = rgb.shape[:2]
    f = target / max(h, w)
    nh, nw = max(32, round(h * f / 32) * 32), max(32, round(w * f / 32) * 32)
    x = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    t = torch.from_numpy(x).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(pre.mean).view(-1, 1, 1)
    std = torch.tensor(pre.std).view(-1, 1, 1)
    t = ((t - mean) / std).unsqueeze(0)
    with torch.inference_mode():
        out = model(t)
        if isinstance(out, dict):  # torchvision-style {"out": logits}
            out = out["out"]
        out = F.interpolate(out.float(), size=(h, w), mode="bilinear", align_corners=False)
    return out[0].argmax(0).numpy()


def overlay(image: np.ndarray | None, mask: np.ndarray | None, opacity: float,
            names: list[str] | None) -> np.ndarray | None:
    """The photo with the coloured mask blended at ``opacity`` (0: photo only, 1: mask only)."""
    if image is None or mask is None:
        return None
    image = np.asarray(image, np.uint8)
    colours = palette(tuple(names or []))[np.asarray(mask)] if names else np.zeros_like(image)
    a = float(np.clip(opacity, 0.0, 1.0))
    return np.round(image.astype(np.float32) * (1 - a) + colours.astype(np.float32) * a).astype(np.uint8)


def legend_html(names: list[str], shares: dict[str, float]) -> str:
    """An HTML legend: colour swatch, class name, share of the pixels (classes present first)."""
    cols = palette(tuple(names))
    order = sorted(range(len(names)), key=lambda i: -shares.get(names[i], 0.0))
    items = []
    for i in order:
        r, g, b = (int(c) for c in cols[i])
        share = shares.get(names[i], 0.0)
        items.append(f'<span style="display:inline-flex;align-items:center;margin:2px 10px 2px 0;'
                     f'opacity:{1.0 if share > 0 else 0.45}"><span style="width:14px;height:14px;'
                     f'background:rgb({r},{g},{b});display:inline-block;margin-right:4px;border:1px solid #555">'
                     f'</span>{names[i]} {100 * share:.1f}%</span>')
    return '<div class="cvzoo-legend">' + "".join(items) + "</div>"


def shares_figure(shares: dict[str, float], names: list[str]) -> Any:
    import plotly.graph_objects as go

    cols = palette(tuple(names))
    order = sorted(range(len(names)), key=lambda i: shares.get(names[i], 0.0))
    fig = go.Figure(go.Bar(
        x=[100 * shares.get(names[i], 0.0) for i in order], y=[names[i] for i in order], orientation="h",
        marker_color=[f"rgb({c[0]},{c[1]},{c[2]})" for c in cols[order]],
        hovertemplate="%{y}: %{x:.2f}% of the pixels<extra></extra>"))
    fig.update_layout(height=60 + 22 * len(names), margin={"l": 10, "r": 10, "t": 30, "b": 30},
                      title="pixel share per class", xaxis_title="% of pixels")
    return fig


def segment(image: Any, model: str | None, opacity: float = 0.5, progress: Any = None) -> tuple[
        np.ndarray, str, Any, dict[str, Any], str]:
    """The Segment callback: ``(overlay, legend HTML, shares figure, state, markdown)``.

    ``state`` (``{"image", "mask", "names"}``) lets :func:`overlay` redraw when only the opacity
    slider moves, without running the model again.
    """
    avail = segmentation_models()
    if not avail:
        raise DemoError("No trained segmentation model is available yet. `fcn8s_effnet_lite0` (CamVid) will "
                        "appear here once its weights are published; train one with `python -m training fit`.")
    name = model or avail[0]
    if name not in avail:
        raise DemoError(f"{name} has no trained weights; choose one of: {', '.join(avail)}.")
    notes: list[str] = []
    rgb = fit_size(read_image(image, notes), MAX_SIDE)
    if progress is not None:
        progress(0.2, desc=f"segmenting with {name}")
    t0 = time.perf_counter()
    mask = predict_mask(rgb, name)
    latency = (time.perf_counter() - t0) * 1000
    names = list(class_names(name))
    counts = np.bincount(mask.ravel(), minlength=len(names))[: len(names)]
    shares = {n: float(c) / mask.size for n, c in zip(names, counts, strict=True)}
    state = {"image": rgb, "mask": mask.astype(np.uint8 if len(names) < 256 else np.int32), "names": names}
    text = f"{name}: {rgb.shape[1]}x{rgb.shape[0]} in {latency:.0f} ms." + (
        f" Notes: {'; '.join(notes)}." if notes else "")
    return overlay(rgb, mask, opacity, names), legend_html(names, shares), shares_figure(shares, names), state, text


def redraw(state: dict[str, Any] | None, opacity: float) -> np.ndarray | None:
    """The opacity slider's callback: blend the stored mask again."""
    if not state:
        return None
    return overlay(state["image"], state["mask"], opacity, state["names"])
