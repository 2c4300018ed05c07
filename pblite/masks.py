"""Half-disc masks for the histogram gradients.

A pair at orientation ``theta`` (``theta = pi o / orientations``, o = 0..orientations-1, ``y`` up,
counter-clockwise) splits the disc of radius ``r`` pixels along the diameter of direction
``theta``: the *left* half holds the pixels whose polar angle lies in ``[theta, theta + pi)``, the
*right* half those in ``[theta + pi, theta + 2 pi)``.  The centre pixel belongs to neither, so the
two halves are disjoint, have the same number of pixels, and are point reflections of each
other (``right == rot180(left)``, the "mirror image" of the assignment); their union is the
disc minus its centre.  A pixel belongs to the disc when its centre is within ``r`` of the
disc centre.

For the fast gradients each disc is cut into ``2 * orientations`` sectors (wedges of angle
``pi / orientations``): a left half-disc is the union of ``orientations`` consecutive sectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .filters import draw_bank

__all__ = ["draw_masks", "half_disc_masks", "sector_map"]

_EPS = 1e-9


def _polar(radius: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    x = np.tile(r, (r.size, 1))
    y = -x.T
    ang = np.mod(np.arctan2(y, x), 2 * math.pi)
    return x**2 + y**2, ang


def sector_map(radius: int, orientations: int = 8) -> np.ndarray:
    """Sector index of every pixel of the ``(2r+1, 2r+1)`` disc, -1 outside the disc and at its centre.

    Sector ``j`` (0 .. 2*orientations-1) holds polar angles in ``[j pi/O, (j+1) pi/O)``; a pixel on
    a sector boundary goes to the sector that starts there.  Returns int64 ``(2r+1, 2r+1)``.
    """
    if radius < 1 or orientations < 1:
        raise ValueError("radius and orientations must be >= 1")
    d2, ang = _polar(radius)
    n = 2 * orientations
    sec = np.floor((ang + _EPS) / (math.pi / orientations)).astype(np.int64) % n
    sec[(d2 > radius * radius + _EPS) | (d2 == 0)] = -1
    return sec


def half_disc_masks(radii: Sequence[int] = (5, 10, 15), orientations: int = 8) -> np.ndarray:
    """Left/right half-disc pairs for every radius and orientation.

    Returns:
        bool array ``(len(radii), orientations, 2, S, S)`` with ``S = 2 max(radii) + 1`` (smaller
        discs centred and zero-padded); index 0 of the third axis is the left half, 1 the right.
    """
    if not radii:
        raise ValueError("need at least one radius")
    rmax = max(radii)
    size = 2 * rmax + 1
    out = np.zeros((len(radii), orientations, 2, size, size), dtype=bool)
    for s, r in enumerate(radii):
        sec = sector_map(int(r), orientations)
        pad = rmax - r
        for o in range(orientations):
            left = (sec >= o) & (sec < o + orientations)
            out[s, o, 0, pad: pad + 2 * r + 1, pad: pad + 2 * r + 1] = left
            out[s, o, 1] = out[s, o, 0, ::-1, ::-1]
    return out


def draw_masks(masks: np.ndarray, cell: int = 0) -> np.ndarray:
    """Draw ``(S, O, 2, size, size)`` half-disc pairs as a uint8 grid: one row a scale, pairs side by side."""
    s, o = masks.shape[:2]
    pairs = masks.reshape(s * o, 2, *masks.shape[-2:]).astype(np.float32)
    return draw_bank(pairs, ncols=o, cell=cell)
