"""Segment tab: a photo -> a class mask, overlaid with adjustable opacity, a legend and per-class pixel shares.

Any segmentation model with weights in the registry is offered (``fcn8s_effnet_lite0`` on CamVid).
The mask comes from the project's one segmenter, :func:`zoo.segment.predict_mask`, the same as
``cvzoo segment``'s: the model sees the photo with its longer side at most
:data:`zoo.segment.MAX_SIDE` (480) px, and its logits are resized bilinearly to the photo's size
before the arg-max, so the mask matches the photo pixel for pixel. The overlay and the legend use
:func:`zoo.segment.overlay` and the colours of :func:`zoo.segment.class_colours`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from demos.callbacks.common import DemoError, class_names, fit_size, get_model, pretrained_models, read_image
from zoo.segment import Segmenter, class_shares, make_segmenter, overlay, predict_mask

MAX_SIDE = 1024  # photos are shown (and the mask drawn) at most this large; the model sees at most 480 px
# The course compares FCN-32s, FCN-16s and FCN-8s on one photo: the same encoder, coarser to finer skips.
FCN_FAMILY = ("fcn32s_effnet_lite0", "fcn16s_effnet_lite0", "fcn8s_effnet_lite0")


def segmentation_models() -> list[str]:
    """Registered segmentation models with published weights."""
    return pretrained_models("segmentation")


def segmenter(name: str) -> Segmenter:
    """Model ``name`` from the demos' model cache with its weight's class names, colours and mean/std."""
    return make_segmenter(get_model(name), name, classes=class_names(name))


def legend_html(names: Sequence[str], colours: Sequence[Sequence[int]], shares: Sequence[float]) -> str:
    """An HTML legend: colour swatch, class name, share of the pixels (classes present first)."""
    order = sorted(range(len(names)), key=lambda i: -shares[i])
    items = []
    for i in order:
        r, g, b = (int(c) for c in colours[i])
        items.append(f'<span style="display:inline-flex;align-items:center;margin:2px 10px 2px 0;'
                     f'opacity:{1.0 if shares[i] > 0 else 0.45}"><span style="width:14px;height:14px;'
                     f'background:rgb({r},{g},{b});display:inline-block;margin-right:4px;border:1px solid #555">'
                     f'</span>{names[i]} {100 * shares[i]:.1f}%</span>')
    return '<div class="cvzoo-legend">' + "".join(items) + "</div>"


def shares_figure(names: Sequence[str], colours: Sequence[Sequence[int]], shares: Sequence[float]) -> Any:
    """A plotly horizontal bar chart: each class's share of the pixels (%), in its mask colour."""
    import plotly.graph_objects as go

    order = sorted(range(len(names)), key=lambda i: shares[i])
    fig = go.Figure(go.Bar(
        x=[100 * shares[i] for i in order], y=[names[i] for i in order], orientation="h",
        marker_color=[f"rgb({colours[i][0]},{colours[i][1]},{colours[i][2]})" for i in order],
        hovertemplate="%{y}: %{x:.2f}% of the pixels<extra></extra>"))
    fig.update_layout(height=60 + 22 * len(names), margin={"l": 10, "r": 10, "t": 30, "b": 30},
                      title="pixel share per class", xaxis_title="% of pixels")
    return fig


def check_model(model: str | None) -> str:
    """The model to use (the first with weights when ``model`` is empty); a ``DemoError`` when there is none."""
    avail = segmentation_models()
    if not avail:
        raise DemoError("No trained segmentation model is available yet. `fcn8s_effnet_lite0` (CamVid) will "
                        "appear here once its weights are published; train one with `python -m training fit`.")
    name = model or avail[0]
    if name not in avail:
        raise DemoError(f"{name} has no trained weights; choose one of: {', '.join(avail)}.")
    return name


def segment(image: Any, model: str | None, opacity: float = 0.5, progress: Any = None) -> tuple[
        np.ndarray, str, Any, dict[str, Any], str]:
    """The Segment callback: ``(overlay (H, W, 3) uint8, legend HTML, shares figure, state, markdown)``.

    ``state`` (``{"image", "mask", "colours"}``: the photo as shown, its ``(H, W)`` class ids and
    one RGB colour a class) lets :func:`redraw` blend again when only the opacity slider moves,
    without running the model again.
    """
    name = check_model(model)
    notes: list[str] = []
    rgb = fit_size(read_image(image, notes), MAX_SIDE)
    if progress is not None:
        progress(0.2, desc=f"segmenting with {name}")
    seg = segmenter(name)
    t0 = time.perf_counter()
    mask = predict_mask(seg, rgb)
    latency = (time.perf_counter() - t0) * 1000
    shares = class_shares(mask, len(seg.classes)).tolist()
    state = {"image": rgb, "mask": mask, "colours": seg.colours}
    text = f"{name}: {rgb.shape[1]}x{rgb.shape[0]} in {latency:.0f} ms." + (
        f" Notes: {'; '.join(notes)}." if notes else "")
    return (overlay(rgb, mask, seg.colours, opacity), legend_html(seg.classes, seg.colours, shares),
            shares_figure(seg.classes, seg.colours, shares), state, text)


def redraw(state: dict[str, Any] | None, opacity: float) -> np.ndarray | None:
    """The opacity slider's callback: blend the stored mask again (None before the first segmentation)."""
    if not state:
        return None
    return overlay(state["image"], state["mask"], state["colours"], opacity)


def compare(image: Any, opacity: float = 0.5, progress: Any = None) -> tuple[list[tuple[np.ndarray, str]], str]:
    """The FCN comparison: ``([(overlay (H, W, 3) uint8, caption), ...], markdown)``, one overlay per member
    of :data:`FCN_FAMILY` with weights, coarsest first; captions give each weight's CamVid test mIoU."""
    import zoo

    names = [n for n in FCN_FAMILY if n in segmentation_models()]
    if not names:
        raise DemoError(f"None of {', '.join(FCN_FAMILY)} has trained weights yet.")
    notes: list[str] = []
    rgb = fit_size(read_image(image, notes), MAX_SIDE)
    out, times = [], []
    for i, name in enumerate(names):
        if progress is not None:
            progress(i / len(names), desc=f"segmenting with {name}")
        seg = segmenter(name)
        t0 = time.perf_counter()
        mask = predict_mask(seg, rgb)
        times.append(f"{name} {(time.perf_counter() - t0) * 1000:.0f} ms")
        miou = zoo.get_spec(name).weights[0].metrics.get("test_miou")
        out.append((overlay(rgb, mask, seg.colours, opacity),
                    f"{name}" + (f" (CamVid test mIoU {miou:.3f})" if miou is not None else "")))
    text = (f"{rgb.shape[1]}x{rgb.shape[0]}: " + ", ".join(times) + "."
            + (f" Notes: {'; '.join(notes)}." if notes else ""))
    return out, text
