"""Non-maximum suppression (thinning) of a boundary map along its local normal.

The normal direction comes from the second derivatives of the map smoothed by a small
Gaussian (as in Dollar and Zitnick's structured-edge NMS): ``theta = atan2(Oyy * sign(-Oxy), Oxx)``
modulo pi.  A pixel survives when its value is at least both of its neighbours at distance
``r`` along the normal (bilinear interpolation); ``r`` pixels at the border are cleared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["edge_orientation", "nms"]


def _gauss1d(sigma: float, device: torch.device) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    g = _gauss1d(sigma, x.device)
    r = g.numel() // 2
    y = F.pad(x[None, None], (r, r, r, r), mode="replicate")
    y = F.conv2d(y, g.view(1, 1, 1, -1))
    return F.conv2d(y, g.view(1, 1, -1, 1))[0, 0]


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gy, gx = torch.gradient(x)
    return gx, gy


def edge_orientation(pb: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """``(H, W)`` map -> ``(H, W)`` normal angle in [0, pi) (radians; x right, y down)."""
    e = _smooth(pb, sigma)
    ox, oy = _grad(e)
    oxx, _ = _grad(ox)
    oxy, oyy = _grad(oy)
    return torch.remainder(torch.atan(oyy * torch.sign(-oxy) / (oxx + 1e-5)), math.pi)


def nms(pb: torch.Tensor, theta: torch.Tensor | None = None, r: float = 1.0, border: int = 1) -> torch.Tensor:
    """Thin an ``(H, W)`` float map: keep pixels that are maximal along the normal, zero elsewhere.

    Args:
        pb: ``(H, W)`` float32 map.
        theta: ``(H, W)`` normal angles (radians); computed with :func:`edge_orientation` if None.
        r: distance of the compared neighbours, pixels.
        border: width of the border set to 0, pixels.
    """
    h, w = pb.shape
    if h < 3 or w < 3:
        return pb.clone()
    if theta is None:
        theta = edge_orientation(pb)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=pb.device),
        torch.arange(w, dtype=torch.float32, device=pb.device),
        indexing="ij",
    )
    c, s = torch.cos(theta) * r, torch.sin(theta) * r
    keep = torch.ones_like(pb, dtype=torch.bool)
    for sign in (1.0, -1.0):
        gx = (xx + sign * c) / (w - 1) * 2 - 1
        gy = (yy + sign * s) / (h - 1) * 2 - 1
        grid = torch.stack([gx, gy], -1)[None]
        nb = F.grid_sample(pb[None, None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]
        keep &= pb >= nb
    out = torch.where(keep, pb, torch.zeros_like(pb))
    if border > 0:
        out[:border] = 0
        out[-border:] = 0
        out[:, :border] = 0
        out[:, -border:] = 0
    return out
