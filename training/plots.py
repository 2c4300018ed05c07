"""The figures and timings of an evaluation: confusion matrix, training curves, forward speed.

Every figure is written atomically (``training.runs.save_figure``); curves also as interactive,
self-contained plotly HTML when plotly (the ``train`` extra) is installed.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training import runs


def throughput(model: nn.Module, example: torch.Tensor, batch: int = 64, seconds: float = 1.0) -> float:
    """Forward-pass images per second on ``example``'s device (batch 64, at least one timed batch)."""
    x = example[:1].expand(batch, *example.shape[1:]).contiguous()
    model.eval()
    with torch.no_grad():
        model(x)
        n, t0 = 0, time.perf_counter()
        while n < 1 or time.perf_counter() - t0 < seconds:
            model(x)
            n += 1
        if x.device.type == "cuda":
            torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - t0)


def seconds_per_image(model: nn.Module, example: torch.Tensor, reps: int = 3) -> float:
    """Median forward time of one image (batch 1) on ``example``'s device."""
    x = example[:1]
    model.eval()
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(reps):
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def plot_confusion(confusion: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    norm = confusion / np.maximum(1, confusion.sum(1, keepdims=True))
    size = max(5.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8 if k <= 20 else 5)
    ax.set_yticks(range(k), classes, fontsize=8 if k <= 20 else 5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    fig.tight_layout()
    runs.save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_curves(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Loss and accuracy per epoch, as ``curves.png`` and interactive ``curves.html``."""
    rows = runs.read_metrics(run_dir)
    if not rows:
        return []
    out = Path(out_dir) if out_dir else Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in rows]
    series = {k: [r.get(k) for r in rows] for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for k in ("train_loss", "test_loss"):
        a1.plot(epochs, series[k], marker="o", label=k.replace("_", " "))
    for k in ("train_acc", "test_acc"):
        a2.plot(epochs, [100 * v if v is not None else None for v in series[k]], marker="o", label=k.replace("_", " "))
    a1.set(xlabel="epoch", ylabel="loss", title="loss")
    a2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()

    def interactive() -> Any:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig2 = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy (%)"))
        for k in ("train_loss", "test_loss"):
            fig2.add_trace(go.Scatter(x=epochs, y=series[k], mode="lines+markers", name=k.replace("_", " ")), 1, 1)
        for k in ("train_acc", "test_acc"):
            fig2.add_trace(go.Scatter(x=epochs, y=[100 * v if v is not None else None for v in series[k]],
                                      mode="lines+markers", name=k.replace("_", " ")), 1, 2)
        return fig2.update_xaxes(title_text="epoch")

    return save_png_and_html(fig, interactive, out / "curves")


def plot_seg_curves(run_dir: str | os.PathLike, keys: tuple[str, str] = ("loss", "miou")) -> Path | None:
    """Loss and mIoU per epoch, or two other metrics ``keys`` (``train_<key>``, ``val_<key>``): ``eval/curves.png``."""
    rows = runs.read_metrics(run_dir)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in zip(keys, (a1, a2), strict=True):
        for split in ("train", "val"):
            pts = [(r["epoch"], r[f"{split}_{key}"]) for r in rows if r.get(f"{split}_{key}") is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=f"{split} {key}")
        ax.set(xlabel="epoch", ylabel=key, title=key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    runs.save_figure(fig, out / "curves.png", dpi=120)
    plt.close(fig)
    return out / "curves.png"


def save_png_and_html(fig: Any, interactive: Callable[[], Any], stem: Path) -> list[Path]:
    """Write the matplotlib ``fig`` as ``stem.png`` (and close it), then the plotly figure that
    ``interactive()`` builds as a self-contained ``stem.html``; without plotly (the ``train`` extra)
    the PNG alone. Returns the paths written."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = stem.with_suffix(".png")
    runs.save_figure(fig, png, dpi=120)
    plt.close(fig)
    if importlib.util.find_spec("plotly") is None:
        return [png]
    html = stem.with_suffix(".html")
    runs.save_html(interactive(), html)
    return [png, html]
