"""Lab, image basics: the course notebook's operations (notebook 002, "Images and CNNs") on an upload.

- kernels (``cv2.filter2D``, cross-correlation as CNNs compute it, border reflected without
  repeating the edge pixel): identity, sharpen (the notebook's ``[[0,-1,0],[-1,5,-1],[0,-1,0]]``),
  5x5 box blur, 5x5 Gaussian blur (sigma 1.1, OpenCV's default for 5 taps), Laplacian (4-neighbour),
  the notebook's 8-neighbour outline kernel, Sobel x and y, or a kernel the user types;
- thresholds on the grey image (``cv2.threshold``: fixed or Otsu; ``cv2.adaptiveThreshold``:
  Gaussian-weighted local mean minus C);
- gamma: ``255 * (x / 255) ** gamma`` per channel (gamma < 1 brightens; the notebook's
  ``img ** (1/2)`` is gamma 0.5);
- pooling (``torch.nn.functional.max_pool2d`` / ``avg_pool2d``, window = stride = the chosen
  size; a partial window at the right or bottom edge is dropped, so the output is
  ``floor(H / k) x floor(W / k)``);
- the grey-level histogram (256 bins) with the fixed and Otsu thresholds marked.

Uploads are downscaled (area) to at most ``MAX_SIDE`` (640) pixels on the longer side, which
keeps every view under a second on a 2-core CPU. Each result is also written as a PNG for
download (``zoo.weights.atomic_write``: temp file + rename, so a reader never sees a half-written file).
"""

from __future__ import annotations

import re
import uuid
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from demos.callbacks.common import DemoError, fit_size, output_dir, read_image

MAX_SIDE = 640  # longer side (px) of the working image
MAX_KERNEL = 7  # largest typed kernel (odd, square)
THRESHOLDS = ("fixed", "Otsu", "adaptive")
POOLS = ("max", "average")


def _gaussian(size: int) -> np.ndarray:
    g = cv2.getGaussianKernel(size, 0)  # sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    return (g @ g.T).astype(np.float32)


KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
    "box blur 5x5": np.full((5, 5), 1 / 25, np.float32),
    "Gaussian blur 5x5": _gaussian(5),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),
    "outline (8-neighbour)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
}
CUSTOM = "custom (type below)"
KERNEL_CHOICES = (*KERNELS, CUSTOM)


def kernel_text(kernel: np.ndarray) -> str:
    """A kernel as the text box shows it: one row a line, numbers separated by spaces."""
    return "\n".join(" ".join(f"{v:g}" for v in row) for row in np.asarray(kernel).round(4))


def parse_kernel(text: str | None) -> np.ndarray:
    """A typed kernel -> ``(k, k)`` float32, without ``eval``.

    Rows are separated by newlines or ``;``, numbers by spaces or commas; a number is a decimal
    (``-1``, ``0.25``, ``1e-2``) or a fraction (``1/9``). The kernel must be square with an odd
    side of at most ``MAX_KERNEL`` (7); anything else raises :class:`DemoError` saying what is wrong.
    """
    rows = [r for r in re.split(r"[;\n]", (text or "").strip()) if r.strip()]
    if not rows:
        raise DemoError("The custom kernel is empty: type rows of numbers, e.g. `0 -1 0; -1 5 -1; 0 -1 0`.")
    values: list[list[float]] = []
    for i, row in enumerate(rows, start=1):
        tokens = [t for t in re.split(r"[\s,]+", row.strip()) if t]
        parsed = []
        for t in tokens:
            try:
                v = float(Fraction(t)) if "/" in t else float(t)
            except (ValueError, ZeroDivisionError):
                raise DemoError(f"Custom kernel, row {i}: {t[:20]!r} is not a number (use decimals like -1, 0.25 "
                                "or fractions like 1/9).") from None
            if not np.isfinite(v):
                raise DemoError(f"Custom kernel, row {i}: {t[:20]!r} is not a finite number.")
            parsed.append(v)
        values.append(parsed)
    k = len(values)
    if any(len(r) != k for r in values):
        raise DemoError(f"The custom kernel must be square: {k} rows, but rows have "
                        f"{', '.join(str(len(r)) for r in values)} numbers.")
    if k % 2 == 0 or k > MAX_KERNEL:
        raise DemoError(f"The custom kernel is {k}x{k}: use an odd size from 1x1 to {MAX_KERNEL}x{MAX_KERNEL} "
                        "(so it has a centre pixel).")
    return np.asarray(values, np.float32)


def get_kernel(name: str, custom: str | None = None) -> np.ndarray:
    """A named kernel from :data:`KERNELS`, or the typed one for :data:`CUSTOM`."""
    if name == CUSTOM:
        return parse_kernel(custom)
    if name not in KERNELS:
        raise DemoError(f"Unknown kernel {name!r}; choose one of: {', '.join(KERNEL_CHOICES)}.")
    return KERNELS[name]


def apply_kernel(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlate each channel of a uint8 ``(H, W[, C])`` image with ``kernel`` -> uint8, same shape.

    The response is computed in float32. Kernels whose weights sum to zero (Laplacian, Sobel,
    outline) respond with signed values around 0, so their absolute value is shown; others are
    clipped to 0-255 (what ``cv2.filter2D(img, -1, k)`` does on uint8). Border: reflect-101.
    """
    k = np.asarray(kernel, np.float32)
    out = cv2.filter2D(image.astype(np.float32), cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    if abs(float(k.sum())) < 1e-6:
        out = np.abs(out)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 (BT.601 luma); grey input is returned as is."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def threshold(image: np.ndarray, method: str = "Otsu", value: float = 127, block: int = 31,
              c: float = 5) -> tuple[np.ndarray, float | None]:
    """Binary ``(H, W)`` uint8 in {0, 255} (255 where brighter than the threshold) and the threshold used.

    ``fixed``: grey > ``value``; ``Otsu``: the level that maximises the between-class variance of
    the grey histogram (returned); ``adaptive``: grey > Gaussian-weighted mean of the ``block`` x
    ``block`` neighbourhood minus ``c`` (no single threshold: ``None``). ``block`` is made odd, >= 3.
    """
    g = grey(image)
    if method == "fixed":
        t, out = cv2.threshold(g, float(value), 255, cv2.THRESH_BINARY)
        return out, float(t)
    if method == "Otsu":
        t, out = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        return out, float(t)
    if method == "adaptive":
        block = max(3, int(block) | 1)
        return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, float(c)), None
    raise DemoError(f"Unknown threshold {method!r}; choose one of: {', '.join(THRESHOLDS)}.")


def gamma(image: np.ndarray, g: float) -> np.ndarray:
    """``255 * (x / 255) ** g`` on every pixel of a uint8 image (a 256-entry lookup table), rounded."""
    if not g > 0:
        raise DemoError(f"Gamma must be positive, got {g}.")
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** float(g)), 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut)


def pool(image: np.ndarray, size: int, mode: str = "max") -> np.ndarray:
    """Max or average pooling of a uint8 ``(H, W[, C])`` image with a ``size`` x ``size`` window and stride
    ``size`` (torch): ``(H // size, W // size[, C])`` uint8 (averages rounded)."""
    size = int(size)
    h, w = image.shape[:2]
    if size < 1 or size > min(h, w):
        raise DemoError(f"Pooling size {size} does not fit a {w}x{h} image: use 1 to {min(h, w)}.")
    x = torch.from_numpy(np.ascontiguousarray(image)).float()
    x = x[None, None] if image.ndim == 2 else x.permute(2, 0, 1)[None]
    if mode == "max":
        y = F.max_pool2d(x, size, stride=size)
    elif mode == "average":
        y = F.avg_pool2d(x, size, stride=size)
    else:
        raise DemoError(f"Unknown pooling {mode!r}; choose one of: {', '.join(POOLS)}.")
    y = y[0].round().clamp(0, 255).to(torch.uint8)
    return y[0].numpy() if image.ndim == 2 else y.permute(1, 2, 0).numpy()


def histogram(image: np.ndarray) -> np.ndarray:
    """Counts of the 256 grey levels of the image (``(256,)`` int64, sums to H * W)."""
    return np.bincount(grey(image).ravel(), minlength=256).astype(np.int64)


def histogram_figure(counts: np.ndarray, marks: dict[str, float] | None = None) -> Any:
    """A bar chart of grey-level counts with vertical lines at the given thresholds."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=np.arange(256), y=counts, marker={"color": "#555"}, name="pixels",
                           hovertemplate="level %{x}: %{y} pixels<extra></extra>"))
    for i, (name, t) in enumerate((marks or {}).items()):
        fig.add_vline(x=t, line={"color": ("#d62728", "#1f77b4")[i % 2], "dash": "dash"},
                      annotation_text=f"{name} {t:.0f}", annotation_position="top right" if i % 2 else "top left")
    fig.update_layout(height=260, bargap=0, xaxis={"title": "grey level", "range": [-1, 256]},
                      yaxis={"title": "pixels"}, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False)
    return fig


def save_png(image: np.ndarray, stem: str) -> str:
    """Write ``image`` as a PNG in the demo's output folder atomically (temp file + rename); its path."""
    from PIL import Image

    from zoo.weights import atomic_write

    path = output_dir() / f"{stem}_{uuid.uuid4().hex[:8]}.png"
    atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG", compress_level=1))
    return str(path)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def image_basics(image: Any, kernel: str = "sharpen", custom: str | None = None, method: str = "Otsu",
                 value: float = 127, block: int = 31, c: float = 5, g: float = 0.5, pool_size: int = 8,
                 pool_mode: str = "max") -> tuple[list[tuple[np.ndarray, str]], Any, list[str], str]:
    """The image-basics callback: ``(gallery [(image, caption)], histogram figure, PNG paths, markdown)``.

    The gallery is the input (downscaled to at most 640 px) beside the kernel's result, the
    threshold, the gamma-corrected image and the pooled image (shown enlarged with nearest
    neighbours to the input's size; the PNG holds the real ``H / k x W / k`` pixels).
    """
    k = get_kernel(kernel, custom)  # a bad typed kernel is reported before the image is read
    notes: list[str] = []
    rgb0 = read_image(image, notes)
    rgb = fit_size(rgb0, MAX_SIDE)
    h, w = rgb.shape[:2]
    filtered = apply_kernel(rgb, k)
    binary, t = threshold(rgb, method, value, block, c)
    bright = gamma(rgb, g)
    pooled = pool(rgb, pool_size, pool_mode)
    shown_pool = cv2.resize(pooled, (pooled.shape[1] * int(pool_size), pooled.shape[0] * int(pool_size)),
                            interpolation=cv2.INTER_NEAREST)
    t_text = f"{method} threshold" + (f" {t:.0f}" if t is not None else f" (block {max(3, int(block) | 1)}, C {c:g})")
    items = [(rgb, f"input {w}x{h}"), (filtered, f"{kernel} ({k.shape[0]}x{k.shape[1]})"), (binary, t_text),
             (bright, f"gamma {g:g}"),
             (shown_pool, f"{pool_mode} pool {int(pool_size)}x{int(pool_size)} -> {pooled.shape[1]}x{pooled.shape[0]}")]
    files = [save_png(img, _slug(cap.split(" (")[0])) for img, cap in items[1:4]]
    files.append(save_png(pooled, f"{pool_mode}_pool_{int(pool_size)}"))
    _, otsu_t = threshold(rgb, "Otsu")
    marks = {"Otsu": otsu_t} if method != "fixed" else {"fixed": float(value), "Otsu": otsu_t}
    fig = histogram_figure(histogram(rgb), marks)
    lines = [f"Working image {w}x{h}" + (f" (downscaled from {rgb0.shape[1]}x{rgb0.shape[0]} to at most "
                                         f"{MAX_SIDE} px)" if rgb.shape != rgb0.shape else "") + "."]
    if notes:
        lines.append(f"Note: {'; '.join(notes)}.")
    lines.append(f"Kernel `{kernel}`:\n\n```\n{kernel_text(k)}\n```")
    return items, fig, files, "\n".join(lines)

