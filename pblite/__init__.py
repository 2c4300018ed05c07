"""pb-lite boundary detection: filter banks, texton/brightness/colour maps, chi-square
half-disc gradients, Sobel/Canny baselines and the BSDS500 benchmark.

Quick use::

    import pblite
    result = pblite.detect(rgb_uint8)       # result.pb: (H, W) float32 in [0, 1]
"""

from .io import ImageError, load_image
from .pipeline import PRESETS, PbConfig, PbResult, detect

__all__ = ["PRESETS", "ImageError", "PbConfig", "PbResult", "detect", "load_image"]
