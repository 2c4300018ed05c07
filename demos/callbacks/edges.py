"""Edges tab: Sobel, Canny and pb-lite side by side, the intermediate maps on request, the pb map as a PNG.

The demo runs ``pblite.detect`` with :data:`DEMO_DEFAULTS` (a lighter setting than the benchmark's
``PbConfig()``: smaller working size, fewer textons and k-means iterations, one bank) so that a
typical photo answers in about a second; the sliders change the main settings.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import cv2
import numpy as np

from demos.callbacks.common import DemoError, fit_size, output_dir, read_image, to_u8

# The settings the sliders start from (names are pblite.PbConfig fields).
DEMO_DEFAULTS: dict[str, Any] = {
    "max_side": 320,  # working size (pixels, longer side); pb is returned at the input's size
    "n_textons": 32,
    "n_brightness": 16,
    "n_colours": 16,
    "kmeans_fit": 3000,
    "kmeans_iters": 10,
    "lm": None,
    "dog_orientations": 8,
    "gabor_scales": (3.0,),
    "radii": (5, 10),
    "orientations": 8,
    "grad_stride": 4,
    "w_canny": 0.5,
    "canny_thresholds": 12,
}
SLIDERS = {  # name: (min, max, step, default) for the UI
    "max_side": (128, 1024, 32, DEMO_DEFAULTS["max_side"]),
    "n_textons": (8, 64, 8, DEMO_DEFAULTS["n_textons"]),
    "max_radius": (5, 20, 1, max(DEMO_DEFAULTS["radii"])),
    "orientations": (2, 16, 2, DEMO_DEFAULTS["orientations"]),
    "w_canny": (0.0, 1.0, 0.05, DEMO_DEFAULTS["w_canny"]),
}


def make_config(max_side: int | None = None, n_textons: int | None = None, max_radius: int | None = None,
                orientations: int | None = None, w_canny: float | None = None, preset: str = "default") -> Any:
    """A ``pblite.PbConfig`` from the demo defaults and the sliders' values (``None``: default).

    ``max_radius`` gives the half-disc radii ``(r/2, r)``; ``w_sobel = 1 - w_canny``. ``preset`` is one of
    ``pblite.PRESETS``: ``"bsds"`` sets the combination tuned on BSDS500 train (it replaces ``w_canny``
    and weights the texture cue 0, so ``n_textons`` does not matter and the texton stage is skipped).
    """
    import pblite

    if preset not in pblite.PRESETS:
        raise DemoError(f"Unknown pb-lite preset {preset!r}; choose one of {', '.join(pblite.PRESETS)}.")

    kw = dict(DEMO_DEFAULTS)
    if max_side is not None:
        kw["max_side"] = int(max_side)
    if n_textons is not None:
        kw["n_textons"] = int(n_textons)
    if max_radius is not None:
        r = int(max_radius)
        kw["radii"] = tuple(sorted({max(3, r // 2), max(3, r)}))
    if orientations is not None:
        kw["orientations"] = int(orientations)
    if w_canny is not None:
        kw["w_canny"] = float(w_canny)
    kw["w_sobel"] = 1.0 - kw["w_canny"]
    kw.update(pblite.PRESETS[preset])
    fields = {f.name for f in dataclasses.fields(pblite.PbConfig)}
    return pblite.PbConfig(**{k: v for k, v in kw.items() if k in fields})


def label_colours(labels: np.ndarray) -> np.ndarray:
    """An int label map -> RGB with a fixed, well-spread palette (golden-ratio hues)."""
    k = int(labels.max(initial=0)) + 1
    hues = (np.arange(k) * 0.618033988749895) % 1.0
    hsv = np.stack([(hues * 179).astype(np.uint8), np.full(k, 200, np.uint8),
                    (160 + 95 * ((np.arange(k) % 3) / 2)).astype(np.uint8)], axis=1)
    palette = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]
    return palette[labels.astype(np.int64)]


def edges(image: Any, max_side: int | None = None, n_textons: int | None = None, max_radius: int | None = None,
          orientations: int | None = None, w_canny: float | None = None, show_maps: bool = False,
          progress: Any = None, preset: str = "default",
          ) -> tuple[list[tuple[np.ndarray, str]], list[tuple[np.ndarray, str]], str, str]:
    """The Edges callback.

    Returns ``(comparison, intermediates, pb_png_path, markdown)``: the comparison gallery is the
    input, Sobel, Canny and pb-lite at the working size; ``intermediates`` (empty unless
    ``show_maps``) the texton/brightness/colour maps and their gradients Tg/Bg/Cg; the PNG is the
    pb map at the input's full size.
    """
    import pblite

    notes: list[str] = []
    rgb = read_image(image, notes)
    if min(rgb.shape[:2]) < 16:
        raise DemoError(f"The image is {rgb.shape[1]}x{rgb.shape[0]} pixels; pb-lite needs at least 16x16.")
    config = make_config(max_side, n_textons, max_radius, orientations, w_canny, preset)
    if progress is not None:
        progress(0.1, desc="pb-lite: filters, k-means, gradients")
    try:
        res = pblite.detect(rgb, config)
    except pblite.ImageError as exc:
        raise DemoError(str(exc)) from None
    if progress is not None:
        progress(0.9, desc="rendering")
    h, w = res.processed_shape
    shown = fit_size(rgb, max(h, w))
    pb_small = cv2.resize(res.pb, (w, h), interpolation=cv2.INTER_AREA) if res.pb.shape != (h, w) else res.pb
    comparison = [(shown, "input"), (to_u8(res.sobel), "Sobel"), (to_u8(res.canny), "Canny (soft)"),
                  (to_u8(pb_small), "pb-lite")]
    intermediates: list[tuple[np.ndarray, str]] = []
    if show_maps:
        intermediates = [
            (label_colours(res.texton_map), f"texton map ({config.n_textons})"),
            (label_colours(res.brightness_map), f"brightness map ({config.n_brightness})"),
            (label_colours(res.colour_map), f"colour map ({config.n_colours})"),
            (to_u8(res.tg), "Tg (texture gradient)"),
            (to_u8(res.bg), "Bg (brightness gradient)"),
            (to_u8(res.cg), "Cg (colour gradient)"),
            (to_u8(res.pb_thin), "pb-lite after NMS"),
        ]
    path = output_dir() / f"pb_{uuid.uuid4().hex[:12]}.png"
    cv2.imwrite(str(path), to_u8(res.pb))
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in res.timings.items() if k != "total")
    text = (f"Input {rgb.shape[1]}x{rgb.shape[0]}, processed at {w}x{h}; pb-lite took "
            f"{res.timings.get('total', 0):.2f} s ({timing}).")
    all_notes = notes + list(res.notes)
    if all_notes:
        text += " Notes: " + "; ".join(all_notes) + "."
    return comparison, intermediates, str(path), text
