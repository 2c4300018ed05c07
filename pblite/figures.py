"""Images for display: maps to uint8, the comparison strip and the assignment's intermediate figures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .filters import dog_bank, draw_bank, gabor_bank, lm_bank
from .io import save_png
from .masks import draw_masks, half_disc_masks
from .pipeline import PbConfig, PbResult

__all__ = ["comparison", "label_to_u8", "save_intermediates", "to_u8"]


def to_u8(x: np.ndarray) -> np.ndarray:
    """``(H, W)`` float map in [0, 1] -> uint8 (clipped, rounded)."""
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def label_to_u8(labels: np.ndarray, k: int) -> np.ndarray:
    """``(H, W)`` cluster indices -> ``(H, W, 3)`` uint8 colour image (matplotlib-free 'jet'-like colours)."""
    lut = cv2.applyColorMap(np.linspace(0, 255, max(k, 2)).astype(np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0, ::-1]
    return lut[np.clip(labels, 0, k - 1)]


def comparison(rgb: np.ndarray, result: PbResult) -> np.ndarray:
    """``(H, 4W + 3 gap, 3)`` uint8 strip: input | Canny | Sobel | pb-lite, each titled."""
    h, w = rgb.shape[:2]

    def fit(x: np.ndarray) -> np.ndarray:
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) if x.shape[:2] != (h, w) else x
        return np.repeat(to_u8(x)[:, :, None], 3, 2)

    panels = [rgb, fit(result.canny), fit(result.sobel), fit(result.pb)]
    titles = ["input", "Canny", "Sobel", "pb-lite"]
    gap = np.full((h, 4, 3), 255, np.uint8)
    out = []
    for i, (p, t) in enumerate(zip(panels, titles, strict=True)):
        p = p.copy()
        cv2.putText(p, t, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 0, 0), 1, cv2.LINE_AA)
        out.append(p)
        if i < 3:
            out.append(gap)
    return np.concatenate(out, 1)


def save_intermediates(out_dir: Path, stem: str, result: PbResult, config: PbConfig, banks: bool = True) -> None:
    """Write the assignment's figures: banks and masks (once, if ``banks``) and per-image maps and gradients."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if banks:
        save_png(out_dir / "DoG.png", draw_bank(dog_bank(config.dog_scales, config.dog_orientations),
                                              ncols=config.dog_orientations, cell=64))
        save_png(out_dir / "LM_small.png", draw_bank(lm_bank("small"), ncols=12, cell=64))
        save_png(out_dir / "LM_large.png", draw_bank(lm_bank("large"), ncols=12, cell=64))
        save_png(out_dir / "Gabor.png", draw_bank(gabor_bank(config.gabor_scales, config.gabor_orientations),
                                                ncols=config.gabor_orientations, cell=64))
        save_png(out_dir / "HDMasks.png", draw_masks(half_disc_masks(config.radii, config.orientations), cell=64))
    save_png(out_dir / f"TextonMap_{stem}.png", label_to_u8(result.texton_map, config.n_textons))
    save_png(out_dir / f"BrightnessMap_{stem}.png", label_to_u8(result.brightness_map, config.n_brightness))
    save_png(out_dir / f"ColorMap_{stem}.png", label_to_u8(result.colour_map, config.n_colours))
    for name, g in (("Tg", result.tg), ("Bg", result.bg), ("Cg", result.cg)):
        m = float(g.max())
        save_png(out_dir / f"{name}_{stem}.png", to_u8(g / m if m > 0 else g))
    save_png(out_dir / f"Sobel_{stem}.png", to_u8(result.sobel))
    save_png(out_dir / f"Canny_{stem}.png", to_u8(result.canny))
