"""pb-lite: ``PbConfig``, ``PbResult`` and :func:`detect`.

A simplified version of the Pb boundary detector (P. Arbelaez, M. Maire, C. Fowlkes and
J. Malik, "Contour Detection and Hierarchical Image Segmentation", TPAMI 33(5), 2011), as in
the pb-lite assignment (CMSC733 / RBE549 HW0 "Shake my boundary"):

    pb = mean(Tg, Bg, Cg) * (w_canny * Canny + w_sobel * Sobel),   then divided by its max,

(the defaults; ``combine`` also takes cue weights and a per-image-free normalisation, tuned on
BSDS500 train by ``python -m pblite tune``),
with ``Tg``, ``Bg``, ``Cg`` the chi-square half-disc gradients of the texton, brightness and
colour maps (``gradients.py``) and Canny/Sobel the baselines (``baselines.py``).  ``pb_thin``
is ``pb`` after non-maximum suppression (``nms.py``).  Differences from the 2011 Pb: no
learned weights, no multiscale cue combination by logistic regression, no globalisation
(spectral) step; the baselines supply the localisation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from . import baselines, filters, gradients, maps
from .io import to_rgb_u8
from .nms import nms

__all__ = ["PRESETS", "PbConfig", "PbResult", "combine", "detect", "texton_kernels"]


@dataclass(frozen=True)
class PbConfig:
    """Parameters of :func:`detect` (lengths in pixels of the processed image, angles in radians).

    Attributes:
        dog_scales, dog_orientations: oriented DoG bank used for textons.
        lm: ``"small"``, ``"large"`` or ``None``: the LM bank used for textons.
        gabor_scales, gabor_orientations: Gabor bank used for textons (wavelength 2 sigma).
        n_textons, n_brightness, n_colours: k-means cluster counts (64, 16, 16).
        seed, kmeans_fit, kmeans_iters: k-means seed, pixels sampled to fit, max iterations.
        radii, orientations: half-disc radii and orientations of the gradients.
        grad_stride: gradients evaluated exactly every ``grad_stride`` pixels, interpolated between.
        reduction: ``"mean"`` over radii and orientations, or ``"max"`` over orientations.
        cue_weights: weights of ``(Tg, Bg, Cg)`` in their mean (divided by their sum).
        w_canny, w_sobel: weights of the baselines.
        normalize: ``"max"``: pb divided by the image's maximum (the assignment's); ``"sqrt"``: the
            square root of the product (geometric mean of the two factors, already in [0, 1]),
            which keeps one threshold meaning the same strength on every image.
        sobel_sigma, canny_sigmas, canny_thresholds: baseline settings.
        max_side: longer inputs are downscaled to this longest side before processing.
        threads: torch CPU threads during :func:`detect` (0: leave torch's setting).
    """

    dog_scales: tuple[float, ...] = (1.0, 2.0)
    dog_orientations: int = 16
    lm: str | None = "small"
    gabor_scales: tuple[float, ...] = (3.0, 5.0)
    gabor_orientations: int = 8
    n_textons: int = 64
    n_brightness: int = 16
    n_colours: int = 16
    seed: int = 0
    kmeans_fit: int = 10000
    kmeans_iters: int = 10
    radii: tuple[int, ...] = (5, 10, 15)
    orientations: int = 8
    grad_stride: int = 4
    reduction: str = "mean"
    cue_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    w_canny: float = 0.5
    w_sobel: float = 0.5
    normalize: str = "max"
    sobel_sigma: float = 1.5
    canny_sigmas: tuple[float, ...] = (1.0, 2.0, 3.0)
    canny_thresholds: int = 25
    nms_radius: float = 1.0
    max_side: int = 1024
    threads: int = 0

    @classmethod
    def preset(cls, name: str = "default", **overrides: Any) -> PbConfig:
        """A named setting from :data:`PRESETS` (``"default"``, ``"bsds"``) with ``overrides`` applied."""
        if name not in PRESETS:
            raise ValueError(f"unknown pb-lite preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    # the assignment's pb-lite: mean over radii and orientations, mean(Tg, Bg, Cg) x (Canny + Sobel) / 2, max-normalised
    "default": {},
    # tuned on the 200 BSDS500 train images with ``python -m pblite tune`` (proxy score; pblite/README.md)
    "bsds": {"reduction": "max", "cue_weights": (0.0, 2.0, 3.0), "w_canny": 1.0, "w_sobel": 0.0},
}


@dataclass
class PbResult:
    """Output of :func:`detect`.  Arrays are numpy; maps are at the processed size
    (``processed_shape``), ``pb`` and ``pb_thin`` at the input's size.

    Attributes:
        pb: ``(H, W)`` float32 in [0, 1], the pb-lite boundary strength.
        pb_thin: ``(H, W)`` float32, ``pb`` after non-maximum suppression.
        texton_map, brightness_map, colour_map: ``(h, w)`` int64 cluster indices.
        tg, bg, cg: ``(h, w)`` float32 chi-square gradients in [0, 1]. With ``cue_weights[0] == 0`` the
            texton cue is not computed: ``texton_map`` and ``tg`` are 0, ``centres["texton"]`` is empty.
        sobel, canny: ``(h, w)`` float32 baselines in [0, 1].
        centres: k-means centres, ``{"texton": (64, D), "brightness": (16, 1), "colour": (16, 2)}``.
        notes: conversions applied to the input (e.g. "alpha channel dropped", "downscaled ...").
        timings: seconds per stage.
    """

    pb: np.ndarray
    pb_thin: np.ndarray
    texton_map: np.ndarray
    brightness_map: np.ndarray
    colour_map: np.ndarray
    tg: np.ndarray
    bg: np.ndarray
    cg: np.ndarray
    sobel: np.ndarray
    canny: np.ndarray
    centres: dict[str, np.ndarray]
    processed_shape: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def texton_kernels(config: PbConfig) -> np.ndarray:
    """All texton filters of ``config`` as one ``(N, S, S)`` float32 array (zero-padded to a common size)."""
    banks = []
    if config.dog_scales:
        banks.append(filters.dog_bank(config.dog_scales, config.dog_orientations))
    if config.lm:
        banks.append(filters.lm_bank(config.lm))
    if config.gabor_scales:
        banks.append(filters.gabor_bank(config.gabor_scales, config.gabor_orientations))
    if not banks:
        raise ValueError("config selects no texton filter bank")
    size = max(b.shape[-1] for b in banks)
    out = []
    for b in banks:
        p = (size - b.shape[-1]) // 2
        out.append(np.pad(b, ((0, 0), (p, p), (p, p))))
    return np.concatenate(out)


def combine(tg: torch.Tensor, bg: torch.Tensor, cg: torch.Tensor, canny: torch.Tensor, sobel: torch.Tensor,
            config: PbConfig) -> torch.Tensor:
    """pb before NMS from the cues, all ``(h, w)`` float32 in [0, 1]:
    ``weighted mean(Tg, Bg, Cg) * (w_canny * Canny + w_sobel * Sobel)``, normalised per ``config.normalize``."""
    wt, wb, wc = config.cue_weights
    if min(config.cue_weights) < 0 or wt + wb + wc <= 0:
        raise ValueError(f"cue_weights must be >= 0 with a positive sum, got {config.cue_weights}")
    pb = (wt * tg + wb * bg + wc * cg) / (wt + wb + wc) * (config.w_canny * canny + config.w_sobel * sobel)
    if config.normalize == "max":
        m = float(pb.max())
        return pb / m if m > 0 else pb
    if config.normalize == "sqrt":
        return pb.clamp(0, 1).sqrt()
    raise ValueError(f"normalize must be 'max' or 'sqrt', got {config.normalize!r}")


def _prepare(image: np.ndarray, config: PbConfig, notes: list[str]) -> np.ndarray:
    rgb = to_rgb_u8(image, notes)
    h, w = rgb.shape[:2]
    if max(h, w) > config.max_side:
        f = config.max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        notes.append(f"downscaled from {w}x{h} to {size[0]}x{size[1]} (max_side={config.max_side})")
    return rgb


def detect(
    image: np.ndarray,
    config: PbConfig | None = None,
    *,
    device: str | torch.device | None = None,
    centres: dict[str, np.ndarray] | None = None,
) -> PbResult:
    """Run pb-lite on one image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB (grey, RGBA, 16-bit, bool and float [0, 1] arrays are
            converted; see :mod:`pblite.io`).
        config: parameters (default ``PbConfig()``).
        device: torch device for the heavy stages (default CPU); results agree with CPU up to
            floating-point rounding.
        centres: fixed k-means centres (as in ``PbResult.centres``) to skip clustering.

    Returns:
        :class:`PbResult` with ``pb`` of shape ``(H, W)``, float32 in [0, 1].

    Raises:
        pblite.io.ImageError: for unusable input (see :mod:`pblite.io`).
    """
    config = config or PbConfig()
    dev = torch.device(device) if device is not None else torch.device("cpu")
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _detect(image, config, dev, centres)
    finally:
        torch.set_num_threads(old_threads)


def _detect(image: np.ndarray, config: PbConfig, dev: torch.device, centres: dict[str, Any] | None) -> PbResult:
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    notes: list[str] = []
    in_h, in_w = np.asarray(image).shape[:2] if isinstance(image, np.ndarray) else (0, 0)
    rgb = _prepare(image, config, notes)
    h, w = rgb.shape[:2]
    gray_u8 = baselines.to_gray_u8(rgb)

    def tick(name: str, start: float) -> float:
        now = time.perf_counter()
        t[name] = now - start
        return now

    t1 = tick("prepare", t0)
    # A cue weighted 0 cannot change pb: the texton cue (filter bank, 64-cluster k-means, 64-bin gradients,
    # the costliest) is then skipped and its maps left at 0.
    use_texture = config.cue_weights[0] > 0
    if not use_texture:
        notes.append("texton cue skipped: its weight in cue_weights is 0")
    feature_sets: dict[str, tuple[torch.Tensor, int]] = {}
    if use_texture:
        kernels = torch.from_numpy(texton_kernels(config)).to(dev)
        gray = torch.from_numpy(gray_u8).to(dev, torch.float32) / 255.0
        resp = maps.filter_responses(gray, kernels)
        feature_sets["texton"] = (resp.reshape(resp.shape[0], -1).T, config.n_textons)  # (H W, N) view, not copied
    t1 = tick("filters", t1)
    lab = maps.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32, device=dev).permute(2, 0, 1) / 255.0)
    feature_sets["brightness"] = (maps.brightness_features(lab), config.n_brightness)
    feature_sets["colour"] = (maps.colour_features(lab), config.n_colours)
    label_maps = {"texton": torch.zeros(h, w, dtype=torch.int64, device=dev)}
    used = {"texton": np.zeros((0, 0), np.float32)}  # replaced below when the texton cue is computed
    for name, (x, k) in feature_sets.items():
        if centres is not None:
            c = torch.as_tensor(np.asarray(centres[name]), dtype=torch.float32, device=dev)
        else:
            seed = config.seed + ("texton", "brightness", "colour").index(name)
            c = maps.kmeans(x, k, seed=seed, n_fit=config.kmeans_fit, iters=config.kmeans_iters)
        label_maps[name] = maps.assign(x, c).view(h, w)
        used[name] = c.cpu().numpy()
    t1 = tick("kmeans", t1)
    grads = {"texton": torch.zeros(h, w, dtype=torch.float32, device=dev)}
    for name, (_, k) in feature_sets.items():
        grads[name] = gradients.gradient_map(
            label_maps[name], k, config.radii, config.orientations, config.grad_stride, config.reduction
        )
    t1 = tick("gradients", t1)
    sobel = baselines.sobel_map(gray_u8, config.sobel_sigma)
    canny = baselines.canny_map(gray_u8, config.canny_sigmas, config.canny_thresholds)
    t1 = tick("baselines", t1)
    pb = combine(grads["texton"], grads["brightness"], grads["colour"], torch.from_numpy(canny).to(dev),
                 torch.from_numpy(sobel).to(dev), config)
    if (h, w) != (in_h, in_w):
        pb_np = cv2.resize(pb.cpu().numpy(), (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        pb = torch.from_numpy(np.clip(pb_np, 0, 1)).to(dev)
    pb_thin = nms(pb, r=config.nms_radius)
    t1 = tick("combine_nms", t1)
    t["total"] = t1 - t0
    return PbResult(
        pb=pb.cpu().numpy().astype(np.float32),
        pb_thin=pb_thin.cpu().numpy().astype(np.float32),
        texton_map=label_maps["texton"].cpu().numpy(),
        brightness_map=label_maps["brightness"].cpu().numpy(),
        colour_map=label_maps["colour"].cpu().numpy(),
        tg=grads["texton"].cpu().numpy(),
        bg=grads["brightness"].cpu().numpy(),
        cg=grads["colour"].cpu().numpy(),
        sobel=sobel,
        canny=canny,
        centres=used,
        processed_shape=(h, w),
        notes=notes,
        timings=t,
    )
