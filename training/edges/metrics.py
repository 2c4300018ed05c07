"""HED's class-balanced cross-entropy, and a cheap F-measure for monitoring training.

Labels from the annotators' consensus ``y`` (the fraction of annotators who marked the pixel), as in
RCF (Liu et al., CVPR 2017): a pixel is a *positive* when ``y >= eta``, a *negative* when ``y == 0``,
and is left out when ``0 < y < eta`` (boundaries that too few annotators drew: neither clearly an
edge nor clearly not) or ``y < 0`` (padding, :data:`training.edges.data.IGNORE`). ``eta = 0.5`` is
RCF's BSDS500 setting; with ``eta`` at or below the smallest non-zero consensus every marked pixel
is a positive, which is HED's choice.

The F-measure here is pixel-exact at one threshold of the fused probability (no thinning, no
matching tolerance), pooled over the data set: a number to watch during training, far below (and
not comparable with) the benchmark's ODS, which stays with pblite's evaluator (``pblite eval``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def edge_labels(target: torch.Tensor, eta: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (positive, negative) masks of a consensus ``target`` (any shape); the rest is ignored."""
    return target >= eta, target == 0


def balanced_bce(logits: torch.Tensor, target: torch.Tensor, eta: float = 0.5, lam: float = 1.0) -> torch.Tensor:
    """HED's class-balanced binary cross-entropy, summed over maps, averaged over images.

    Args:
        logits: N×K×H×W: K maps (HED's fused map and side outputs) scored against the same target.
        target: N×H×W (or N×1×H×W) consensus in [0, 1]; negative values mark ignored pixels.
        eta: a pixel is positive when ``target >= eta``, negative when ``target == 0``, ignored otherwise.
        lam: extra weight on the negatives (RCF's lambda, 1.1 there; 1 is HED).

    For each image, with ``P`` and ``Q`` its numbers of positive and negative pixels and ``beta = Q / (P + Q)``:
    ``loss = -(beta * sum_pos log sigmoid(x) + lam * (1 - beta) * sum_neg log(1 - sigmoid(x))) / (P + Q)``
    for each map (HED's sum over pixels, divided by the counted pixels so the scale does not depend on the
    crop size). An image with no positive pixel gives 0 (its negatives get weight 1 - beta = 0, as in HED).
    Returns a scalar: the mean over the N images of the sum over the K maps.
    """
    if target.ndim == logits.ndim:
        target = target[:, 0]
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits must be N×K×H×W and target N×H×W; got {tuple(logits.shape)} and "
                         f"{tuple(target.shape)}")
    pos, neg = edge_labels(target.float(), eta)
    n_pos, n_neg = pos.sum((1, 2)).float(), neg.sum((1, 2)).float()
    counted = (n_pos + n_neg).clamp(min=1)
    w_pos, w_neg = n_neg / counted, lam * n_pos / counted  # beta and lam * (1 - beta), per image
    weight = pos * w_pos[:, None, None] + neg * w_neg[:, None, None]  # N×H×W
    bce = F.binary_cross_entropy_with_logits(logits.float(), pos[:, None].float().expand_as(logits),
                                             reduction="none")
    per_image = (bce * weight[:, None]).sum((1, 2, 3)) / counted
    return per_image.mean()


class EdgeMeter:
    """Streams the loss and the pooled pixel counts of the fused map (channel 0) thresholded at
    ``threshold``; same interface as the engine's other meters."""

    def __init__(self, eta: float = 0.5, threshold: float = 0.5) -> None:
        self.eta, self.threshold = eta, threshold
        self.tp, self.fp, self.fn = 0, 0, 0
        self.loss_sum, self.count = 0.0, 0

    def update(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | float | None = None) -> None:
        """``output``: N×K×H×W logits (channel 0 is scored); ``target``: N×H×W consensus."""
        pred = torch.sigmoid(output.detach()[:, 0].float()) >= self.threshold
        pos, neg = edge_labels(target.detach(), self.eta)
        self.tp += int((pred & pos).sum())
        self.fp += int((pred & neg).sum())
        self.fn += int((~pred & pos).sum())
        if loss is not None:
            self.loss_sum += float(loss) * len(target)
            self.count += len(target)

    def compute(self) -> dict[str, Any]:
        precision = self.tp / max(1, self.tp + self.fp)
        recall = self.tp / max(1, self.tp + self.fn)
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return {"loss": self.loss_sum / max(1, self.count), "precision": precision, "recall": recall, "f": f,
                "threshold": self.threshold}

    def state_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "loss_sum": self.loss_sum, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tp, self.fp, self.fn = state["tp"], state["fp"], state["fn"]
        self.loss_sum, self.count = state["loss_sum"], state["count"]
