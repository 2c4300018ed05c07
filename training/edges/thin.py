"""Thin an edge probability map into one-pixel-wide edges, as the BSDS benchmark expects.

The benchmark matches predicted boundary pixels one to one with the ground truth, so a thick
response costs precision. HED and RCF thin their maps with Dollár's structured-edge NMS
(``edgesNms``): keep a pixel only where it is at least its two neighbours along the normal of the
edge, the normal coming from the second derivatives of the smoothed map. That is
:func:`pblite.nms.nms`, which this module reuses (training may import pblite; pblite imports
neither zoo nor training).
"""

from __future__ import annotations

import numpy as np
import torch

from pblite.nms import edge_orientation, nms


def thin_edges(prob: torch.Tensor | np.ndarray, *, r: float = 1.0, border: int = 1,
               sigma: float = 2.0) -> torch.Tensor:
    """Non-maximum suppression of an H×W (or 1×H×W / 1×1×H×W) boundary probability map along its normal.

    Args:
        prob: boundary probabilities (e.g. ``torch.sigmoid`` of ``hed_effnet_lite0``'s output).
        r: distance (pixels) of the two neighbours compared along the normal.
        border: width (pixels) of the border set to 0.
        sigma: the Gaussian (pixels) smoothing the map before its orientation is estimated.

    Returns an H×W float32 map: the input's value where it is a maximum along the normal, 0 elsewhere.
    """
    pb = torch.as_tensor(prob, dtype=torch.float32).detach().cpu()
    while pb.ndim > 2:
        if pb.shape[0] != 1:
            raise ValueError(f"thin_edges takes one H×W map, got shape {tuple(prob.shape)}")
        pb = pb[0]
    return nms(pb, edge_orientation(pb, sigma), r=r, border=border)
