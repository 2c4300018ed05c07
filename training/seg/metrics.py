"""Segmentation metrics from one streaming confusion matrix, and their plots.

``confusion[t, p]`` counts pixels of true class ``t`` predicted as ``p``; pixels whose truth is the
void id (``ignore_index``) are left out of every count. From it:

- IoU of class c = TP / (TP + FP + FN); a class absent from both the truth and the predictions
  (TP + FP + FN = 0) has no IoU (NaN) and does not count in the mean;
- ``miou``: the mean of the defined IoUs over the data set's classes (CamVid: 11);
- ``pixel_accuracy``: correct pixels / labelled pixels;
- ``mean_class_accuracy``: the mean over classes present in the truth of TP / (TP + FN).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from training import runs


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """``num_classes``×``num_classes`` int64 counts (rows: truth) of class maps ``pred`` and ``target``.

    Raises ``ValueError`` when the shapes differ or the truth holds an id that is neither a class
    nor ``ignore_index``."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and mask {tuple(target.shape)} differ in shape")
    pred, target = pred.reshape(-1).long().cpu(), target.reshape(-1).long().cpu()
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    t, p = target[keep], pred[keep]
    if t.numel() and (t.min() < 0 or t.max() >= num_classes):
        bad = sorted({int(v) for v in torch.unique(t) if not 0 <= v < num_classes})
        raise ValueError(f"mask holds unknown class id(s) {bad}; known ids are 0..{num_classes - 1}"
                         + (f" and {ignore_index} (void)" if ignore_index is not None else ""))
    if p.numel() and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"prediction holds ids outside 0..{num_classes - 1}")
    return torch.bincount(t * num_classes + p, minlength=num_classes ** 2).view(num_classes, num_classes)


def scores(confusion: torch.Tensor | np.ndarray) -> dict[str, float | list[float]]:
    """mIoU, per-class IoU (NaN where undefined), pixel accuracy, per-class and mean class accuracy."""
    c = torch.as_tensor(confusion, dtype=torch.float64)
    tp = c.diag()
    truth, predicted = c.sum(1), c.sum(0)
    union = truth + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))
    acc = torch.where(truth > 0, tp / truth.clamp(min=1), torch.full_like(tp, math.nan))
    total = c.sum()
    return {
        "miou": float(np.nanmean(iou.numpy())) if (union > 0).any() else math.nan,
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else math.nan,
        "mean_class_accuracy": float(np.nanmean(acc.numpy())) if (truth > 0).any() else math.nan,
        "iou": iou.tolist(),
        "class_accuracy": acc.tolist(),
    }


def miou(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> float:
    """The mean IoU of one prediction (see :func:`scores`)."""
    return float(scores(confusion_matrix(pred, target, num_classes, ignore_index))["miou"])


class SegmentationMeter:
    """Streams loss and the confusion matrix over batches; same interface as the engine's meters."""

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.loss_sum, self.count = 0.0, 0

    def update(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | float | None = None) -> None:
        """``output``: N×C×H×W logits (or N×H×W class ids); ``target``: N×H×W ids."""
        pred = output.detach().argmax(1) if output.ndim == target.ndim + 1 else output.detach()
        self.confusion += confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        if loss is not None:
            self.loss_sum += float(loss) * len(target)
            self.count += len(target)

    def compute(self) -> dict[str, float | list[float]]:
        return {"loss": self.loss_sum / max(1, self.count), **scores(self.confusion)}


def plot_iou(iou: list[float], classes: list[str], path: Path, title: str) -> None:
    """Per-class IoU as a horizontal bar chart, with the mean as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [0.0 if math.isnan(v) else v for v in iou]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(classes) + 1.4))
    bars = ax.barh(range(len(classes)), values, color="#4c72b0")
    ax.set_yticks(range(len(classes)), classes)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    mean = float(np.nanmean(iou)) if any(not math.isnan(v) for v in iou) else 0.0
    ax.axvline(mean, color="#c44e52", ls="--", label=f"mIoU {mean:.3f}")
    for bar, v in zip(bars, iou, strict=True):
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, "n/a" if math.isnan(v) else f"{v:.3f}",
                va="center", fontsize=8)
    ax.set_xlabel("IoU")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    runs.save_figure(fig, path, dpi=120)
    plt.close(fig)
