"""A straightforward pb-lite written the usual way, for the speed benchmark and as an oracle.

One ``cv2.filter2D`` per filter, scikit-learn ``KMeans`` for the clusters, and a Python loop
over maps, radii, orientations and bins with two ``cv2.filter2D`` calls (left and right
half-disc) per bin for the chi-square gradients, evaluated at every pixel.  CIELAB comes from
``skimage.color.rgb2lab``.  It follows the same definitions as :func:`pblite.detect` (same kernels,
masks, reflect-101 borders, normalised histograms, baselines), so with the same cluster
centres the two give the same maps; only :func:`pblite.detect`'s ``grad_stride`` > 1
interpolation differs.
"""

from __future__ import annotations

import cv2
import numpy as np

from .baselines import canny_map, sobel_map, to_gray_u8
from .masks import half_disc_masks
from .pipeline import PbConfig, texton_kernels

__all__ = ["reference_detect", "reference_fit_centres", "reference_gradient"]


def reference_gradient(labels: np.ndarray, n_bins: int, config: PbConfig) -> np.ndarray:
    """``(H, W)`` labels -> ``(H, W)`` float32 chi-square gradient, reduced like ``config.reduction``."""
    masks = half_disc_masks(config.radii, config.orientations)
    rmax = max(config.radii)
    per_scale = []
    for s, r in enumerate(config.radii):
        c = rmax - r
        per_orient = []
        for o in range(config.orientations):
            left = masks[s, o, 0, c: c + 2 * r + 1, c: c + 2 * r + 1].astype(np.float32)
            right = masks[s, o, 1, c: c + 2 * r + 1, c: c + 2 * r + 1].astype(np.float32)
            n = float(left.sum())
            chi = np.zeros(labels.shape, np.float32)
            for k in range(n_bins):
                onehot = (labels == k).astype(np.float32)
                g = cv2.filter2D(onehot, cv2.CV_32F, left, borderType=cv2.BORDER_REFLECT_101) / n
                h = cv2.filter2D(onehot, cv2.CV_32F, right, borderType=cv2.BORDER_REFLECT_101) / n
                den = g + h
                ok = den > 1e-6
                chi[ok] += 0.5 * (g[ok] - h[ok]) ** 2 / den[ok]
            per_orient.append(chi)
        stack = np.stack(per_orient)
        per_scale.append(stack.mean(0) if config.reduction == "mean" else stack.max(0))
    return np.mean(per_scale, axis=0).astype(np.float32)


def _features(rgb: np.ndarray, config: PbConfig) -> dict[str, tuple[np.ndarray, int]]:
    from skimage.color import rgb2lab

    gray = to_gray_u8(rgb).astype(np.float32) / 255.0
    responses = [cv2.filter2D(gray, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101) for k in texton_kernels(config)]
    lab = rgb2lab(rgb).astype(np.float32)
    return {
        "texton": (np.stack(responses, -1).reshape(-1, len(responses)), config.n_textons),
        "brightness": (lab[:, :, :1].reshape(-1, 1), config.n_brightness),
        "colour": (lab[:, :, 1:].reshape(-1, 2), config.n_colours),
    }


def reference_fit_centres(rgb: np.ndarray, config: PbConfig | None = None) -> dict[str, np.ndarray]:
    """The reference's clustering step alone: scikit-learn ``KMeans`` (k-means++, one
    initialisation, ``random_state=config.seed``) fitted on all pixels of every feature set."""
    from sklearn.cluster import KMeans

    config = config or PbConfig()
    return {
        name: KMeans(n_clusters=k, n_init=1, random_state=config.seed).fit(x).cluster_centers_.astype(np.float32)
        for name, (x, k) in _features(rgb, config).items()
    }


def reference_detect(
    rgb: np.ndarray, config: PbConfig | None = None, centres: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The usual-way pb-lite on an ``(H, W, 3)`` uint8 RGB image (no resizing, no NMS).

    Args:
        centres: fixed cluster centres (``PbResult.centres``); None fits scikit-learn ``KMeans``
            (k-means++, one initialisation, ``random_state=config.seed``) on all pixels.

    Returns:
        dict of ``(H, W)`` arrays: ``texton_map``, ``brightness_map``, ``colour_map`` (int64),
        ``tg``, ``bg``, ``cg``, ``sobel``, ``canny``, ``pb`` (float32).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances_argmin

    config = config or PbConfig()
    h, w = rgb.shape[:2]
    gray_u8 = to_gray_u8(rgb)
    out: dict[str, np.ndarray] = {}
    grads = []
    for name, (x, k) in _features(rgb, config).items():
        if centres is None:
            labels = KMeans(n_clusters=k, n_init=1, random_state=config.seed).fit_predict(x)
        else:
            labels = pairwise_distances_argmin(x, np.asarray(centres[name], dtype=np.float32))
        labels = labels.reshape(h, w).astype(np.int64)
        out[f"{name}_map"] = labels
        grads.append(reference_gradient(labels, k, config))
    out["tg"], out["bg"], out["cg"] = grads
    out["sobel"] = sobel_map(gray_u8, config.sobel_sigma)
    out["canny"] = canny_map(gray_u8, config.canny_sigmas, config.canny_thresholds)
    pb = (grads[0] + grads[1] + grads[2]) / 3.0 * (config.w_canny * out["canny"] + config.w_sobel * out["sobel"])
    m = float(pb.max())
    out["pb"] = (pb / m if m > 0 else pb).astype(np.float32)
    return out
