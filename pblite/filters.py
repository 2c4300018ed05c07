"""Filter banks of pb-lite: oriented derivative of Gaussian, Leung-Malik (LM-S, LM-L) and Gabor.

Every bank is returned as one ``float32`` array of shape ``(N, S, S)`` (N kernels, S odd, all
kernels of a bank zero-padded to the same size, centre at ``S // 2``).  Coordinates are in
pixels; ``x`` grows to the right and ``y`` grows *up* (angles are counter-clockwise as drawn).
Kernels are applied as correlations (the convention of ``cv2.filter2D`` and ``torch`` conv).

References: T. Leung and J. Malik, "Representing and recognizing the visual appearance of
materials using three-dimensional textons", IJCV 43(1), 2001 (the LM bank, 48 filters);
the pb-lite assignment (CMSC733 / RBE549 HW0) for the oriented DoG and Gabor banks.

Normalisation (a deviation from some course code, chosen so that the responses of all banks
can be concatenated into one texton feature vector): derivative, LoG and Gabor kernels have
zero mean and unit L1 norm; Gaussian kernels sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SQRT2",
    "dog_bank",
    "draw_bank",
    "gabor_bank",
    "gaussian_kernel",
    "lm_bank",
]

SQRT2 = math.sqrt(2.0)
LM_SMALL_SCALES = (1.0, SQRT2, 2.0, 2.0 * SQRT2)
LM_LARGE_SCALES = (SQRT2, 2.0, 2.0 * SQRT2, 4.0)


def _grid(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)`` float64 grids of shape ``(2r+1, 2r+1)``, ``y`` pointing up."""
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    x = np.tile(r, (r.size, 1))
    y = -x.T
    return x, y


def _zero_mean_l1(k: np.ndarray) -> np.ndarray:
    k = k - k.mean()
    s = np.abs(k).sum()
    return k / s if s > 0 else k


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """Isotropic 2-D Gaussian, ``(2r+1, 2r+1)`` float32 summing to 1; ``r = ceil(3 sigma)`` by default."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    radius = math.ceil(3 * sigma) if radius is None else radius
    x, y = _grid(radius)
    g = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return (g / g.sum()).astype(np.float32)


def dog_bank(scales: Sequence[float] = (1.0, 2.0), orientations: int = 16) -> np.ndarray:
    """Oriented first derivative of Gaussian (the Sobel-of-Gaussian of the assignment).

    Kernel ``(s, o)`` is d/du of a Gaussian of std ``scales[s]`` (pixels), with
    ``u = x cos(theta) + y sin(theta)`` and ``theta = 2 pi o / orientations``, so the kernel at
    ``theta + pi`` is exactly the negative of the kernel at ``theta``.

    Returns:
        ``(len(scales) * orientations, S, S)`` float32, scale-major; ``S = 2 ceil(3 max(scales)) + 1``.
    """
    if orientations < 1 or not scales:
        raise ValueError("need at least one scale and one orientation")
    radius = math.ceil(3 * max(scales))
    x, y = _grid(radius)
    out = []
    for s in scales:
        g = np.exp(-(x**2 + y**2) / (2 * s**2))
        for o in range(orientations):
            t = 2 * math.pi * o / orientations
            u = x * math.cos(t) + y * math.sin(t)
            k = -u / s**2 * g
            out.append(k / np.abs(k).sum())
    return np.stack(out).astype(np.float32)


def _gauss1d(sigma: float, t: np.ndarray, order: int) -> np.ndarray:
    g = np.exp(-(t**2) / (2 * sigma**2))
    if order == 1:
        return -t / sigma**2 * g
    if order == 2:
        return (t**2 - sigma**2) / sigma**4 * g
    return g


def lm_bank(size: str = "small") -> np.ndarray:
    """Leung-Malik filter bank, 48 kernels.

    ``size="small"`` (LM-S) uses sigma = 1, sqrt2, 2, 2 sqrt2; ``size="large"`` (LM-L) uses
    sqrt2, 2, 2 sqrt2, 4.  Order of the 48 kernels (as in Leung and Malik's ``makeLMfilters``):

    * 0-17: first derivatives of an elongated Gaussian (std ``3 sigma`` along the edge,
      ``sigma`` across it), 3 scales (the first three sigmas) x 6 orientations in [0, pi);
    * 18-35: second derivatives, same scales and orientations;
    * 36-43: Laplacian of Gaussian at ``sigma`` and ``3 sigma`` for the four sigmas;
    * 44-47: Gaussians at the four sigmas.

    Returns:
        ``(48, S, S)`` float32 with ``S = 2 ceil(3 * 3 * max(sigma)) + 1`` (the largest LoG).
    """
    if size not in ("small", "large"):
        raise ValueError(f"size must be 'small' or 'large', got {size!r}")
    scales = LM_SMALL_SCALES if size == "small" else LM_LARGE_SCALES
    radius = math.ceil(3 * 3 * max(scales))
    x, y = _grid(radius)
    first, second = [], []
    for s in scales[:3]:
        for o in range(6):
            t = math.pi * o / 6
            along = x * math.cos(t) + y * math.sin(t)
            across = -x * math.sin(t) + y * math.cos(t)
            base = _gauss1d(3 * s, along, 0)
            first.append(_zero_mean_l1(base * _gauss1d(s, across, 1)))
            second.append(_zero_mean_l1(base * _gauss1d(s, across, 2)))
    logs, gauss = [], []
    r2 = x**2 + y**2
    for s in scales:
        for ss in (s, 3 * s):
            log = (r2 - 2 * ss**2) / ss**4 * np.exp(-r2 / (2 * ss**2))
            logs.append(_zero_mean_l1(log))
    for s in scales:
        g = np.exp(-r2 / (2 * s**2))
        gauss.append(g / g.sum())
    return np.stack(first + second + logs + gauss).astype(np.float32)


def gabor_bank(
    scales: Sequence[float] = (3.0, 5.0),
    orientations: int = 8,
    wavelengths: Sequence[float] | None = None,
    aspect: float = 1.0,
    phase: float = 0.0,
) -> np.ndarray:
    """Gabor bank: a Gaussian envelope of std ``sigma`` modulated by a cosine of wavelength ``lambda``.

    ``g = exp(-(u^2 + aspect^2 v^2) / (2 sigma^2)) cos(2 pi u / lambda + phase)`` with ``u`` along
    ``theta = pi o / orientations`` (o = 0..orientations-1).  ``wavelengths`` pairs with
    ``scales`` (one wavelength per scale, pixels); the default is ``2 sigma``.

    Returns:
        ``(len(scales) * orientations, S, S)`` float32, scale-major, ``S = 2 ceil(3 max(sigma)) + 1``.
    """
    if wavelengths is None:
        wavelengths = [2.0 * s for s in scales]
    if len(wavelengths) != len(scales):
        raise ValueError("give one wavelength per scale")
    radius = math.ceil(3 * max(scales))
    x, y = _grid(radius)
    out = []
    for s, lam in zip(scales, wavelengths, strict=True):
        for o in range(orientations):
            t = math.pi * o / orientations
            u = x * math.cos(t) + y * math.sin(t)
            v = -x * math.sin(t) + y * math.cos(t)
            g = np.exp(-(u**2 + (aspect * v) ** 2) / (2 * s**2)) * np.cos(2 * math.pi * u / lam + phase)
            out.append(_zero_mean_l1(g))
    return np.stack(out).astype(np.float32)


def draw_bank(kernels: np.ndarray, ncols: int | None = None, cell: int = 0, gap: int = 2) -> np.ndarray:
    """Draw ``(N, S, S)`` kernels as one grid image, each kernel min-max scaled on its own.

    Args:
        kernels: ``(N, S, S)`` (or ``(N, 2, S, S)`` pairs, drawn side by side) array.
        ncols: kernels per row (default: about ``sqrt(N)``, or the orientation count if obvious).
        cell: upscale each kernel to this many pixels (nearest); 0 keeps ``S``.
        gap: white pixels between kernels.

    Returns:
        ``(H, W)`` uint8 image (kernels are grey-level: 0 = most negative, 255 = most positive).
    """
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 4:
        k = np.concatenate([k[:, 0], k[:, 1]], axis=2)
    if k.ndim != 3 or k.shape[0] == 0:
        raise ValueError(f"expected (N, S, S) kernels, got shape {k.shape}")
    n, h, w = k.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    if cell:
        f = max(1, cell // max(h, w))
        k = k.repeat(f, axis=1).repeat(f, axis=2)
        n, h, w = k.shape
    canvas = np.full((nrows * (h + gap) + gap, ncols * (w + gap) + gap), 255, np.uint8)
    for i in range(n):
        lo, hi = k[i].min(), k[i].max()
        img = (k[i] - lo) / (hi - lo) if hi > lo else np.full((h, w), 0.5)
        r, c = divmod(i, ncols)
        canvas[gap + r * (h + gap): gap + r * (h + gap) + h, gap + c * (w + gap): gap + c * (w + gap) + w] = (
            np.round(img * 255).astype(np.uint8)
        )
    return canvas
