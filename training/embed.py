"""Penultimate-layer embeddings with a 2-D t-SNE, in one versioned ``.npz`` file.

Writer: :func:`embed` (``python -m training embed RUN_DIR_OR_MODEL --data cifar10 --split test``).
Reader: :func:`read_embeddings`. With many classes the t-SNE is drawn in panels of 10 classes
(:func:`panels_figure`, :func:`write_panels`: ``--panels``, automatic above 10 classes; or
``python -m training embed FILE.npz --from-file``), the course report's view of its 50 classes.
The file holds (N images):

========================  =====================  ==================================================
key                       shape, dtype           meaning
========================  =====================  ==================================================
``format_version``        (), int                ``EMBEDDINGS_FORMAT_VERSION``
``features``              N×D float32            the head's input (penultimate layer); N×0 when
                                                 written with ``features=False`` (``--no-features``)
``coords``                N×2 float32            t-SNE of ``features`` (openTSNE, else scikit-learn)
``labels``, ``predictions``  N int64             true and predicted class indices
``confidence``            N float32              softmax probability of the prediction
``thumbnails``            N×h×w×C uint8          the images, at most 32 px a side
``classes``               K str                  class names
``meta``                  () str (JSON)          model, run, data, split, tsne method and seconds, created
========================  =====================  ==================================================
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training import runs
from training.data import load_dataset

EMBEDDINGS_FORMAT_VERSION = 1


@dataclass
class Embeddings:
    features: np.ndarray
    coords: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    thumbnails: np.ndarray
    classes: list[str]
    meta: dict[str, Any]

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.predictions).mean())


def tsne_2d(features: np.ndarray, seed: int = 0, n_jobs: int = 2) -> tuple[np.ndarray, str]:
    """2-D t-SNE (PCA to 50 dimensions first when wider); openTSNE (FFT-accelerated) for 2,000 points
    or more when installed, scikit-learn otherwise (faster for small sets)."""
    x = features.astype(np.float32)
    if x.shape[1] > 50:
        from sklearn.decomposition import PCA

        x = PCA(50, random_state=seed).fit_transform(x).astype(np.float32)
    try:
        if len(x) < 2000:
            raise ImportError
        from openTSNE import TSNE

        return np.asarray(TSNE(n_jobs=n_jobs, random_state=seed).fit(x), dtype=np.float32), "openTSNE"
    except ImportError:
        from sklearn.manifold import TSNE as SkTSNE

        perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
        tsne = SkTSNE(init="pca", random_state=seed, perplexity=perplexity, max_iter=500 if len(x) < 500 else 1000)
        return tsne.fit_transform(x).astype(np.float32), "scikit-learn"


def _thumbnails(images: torch.Tensor, max_side: int = 32) -> np.ndarray:
    h, w = images.shape[-2:]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        images = F.interpolate(images.float(), size=(round(h * s), round(w * s)), mode="bilinear",
                               antialias=True).round().clamp(0, 255).to(torch.uint8)
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def embed(target: str | os.PathLike, data: str | None = None, split: str = "test", *,
          out: str | os.PathLike | None = None, data_root: str | None = None, limit: int | None = None,
          device: str | None = None, batch_size: int = 500, seed: int = 0, keep: int | None = None,
          features: bool = True) -> Path:
    """Write the embeddings file of a run folder or registry model over ``data``/``split``.

    The t-SNE always runs over all ``limit`` (default: every) images; ``keep`` then writes a seeded
    random subset of the points (their layout unchanged), and ``features=False`` leaves the
    features out: together they make a small file to ship with a weight.
    """
    from training import runs
    from training.data import BatchLoader
    from training.device import pick_device
    from training.errors import ConfigError
    from training.evaluate import load_model_for_eval, make_preprocess
    from training.tasks.classification import find_head

    path = Path(target)
    if path.is_dir() and data is None:
        data = runs.read_config(path)["data"]
    if data is None:
        raise ConfigError("give --data for a registry model")
    ds = load_dataset(data, split, root=data_root).subset(limit, seed)
    model, cfg = load_model_for_eval(target)
    dev = pick_device(device)
    model = model.to(dev).eval()
    _, head = find_head(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, inp: captured.append(inp[0].detach().float().flatten(1).cpu()))
    loader = BatchLoader(ds, batch_size, train=False, preprocess=make_preprocess(cfg), device=dev)
    t0 = time.perf_counter()
    logits = []
    try:
        with torch.no_grad():
            for x, _ in loader:
                logits.append(model(x).float().cpu())
    finally:
        hook.remove()
    t_features = time.perf_counter() - t0
    feats = torch.cat(captured).numpy()
    probs = torch.cat(logits).softmax(1)
    conf, pred = probs.max(1)
    t1 = time.perf_counter()
    coords, method = tsne_2d(feats, seed)
    t_tsne = time.perf_counter() - t1
    sel = np.arange(len(ds))
    if keep is not None and keep < len(ds):
        sel = np.sort(np.random.default_rng(seed).choice(len(ds), keep, replace=False))
    meta = {"model": cfg["model"], "run": str(path) if path.is_dir() else None, "data": data, "split": split,
            "images": len(ds), "points": len(sel), "tsne": method, "features_seconds": round(t_features, 2),
            "tsne_seconds": round(t_tsne, 2), "accuracy_all": round(float((pred == ds.labels).float().mean()), 5),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out_path = Path(out) if out else (path / f"embeddings_{split}.npz" if path.is_dir()
                                      else Path(f"embeddings_{cfg['model']}_{split}.npz"))
    runs.save_npz(out_path, compressed=True, format_version=np.asarray(EMBEDDINGS_FORMAT_VERSION),
                  features=feats[sel].astype(np.float32) if features else np.zeros((len(sel), 0), np.float32),
                  coords=coords[sel], labels=ds.labels.numpy()[sel], predictions=pred.numpy()[sel],
                  confidence=conf.numpy().astype(np.float32)[sel], thumbnails=_thumbnails(ds.images[sel]),
                  classes=np.asarray(ds.classes), meta=np.asarray(json.dumps(meta)))
    return out_path


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read a file written by :func:`embed`; a newer format version raises ``ValueError``."""
    with np.load(path, allow_pickle=False) as z:
        version = int(z["format_version"])
        if version > EMBEDDINGS_FORMAT_VERSION:
            raise ValueError(f"{path}: embeddings format {version} is newer than this reader "
                             f"({EMBEDDINGS_FORMAT_VERSION})")
        return Embeddings(features=z["features"], coords=z["coords"], labels=z["labels"],
                          predictions=z["predictions"], confidence=z["confidence"], thumbnails=z["thumbnails"],
                          classes=[str(c) for c in z["classes"]], meta=json.loads(str(z["meta"])))


# ----------------------------------------------------------------------------- panels (many classes)


def _panel_groups(n_classes: int, per_panel: int) -> list[list[int]]:
    return [list(range(i, min(i + per_panel, n_classes))) for i in range(0, n_classes, per_panel)]


def panels_figure(emb: Embeddings, per_panel: int = 10, cols: int = 3):
    """The t-SNE in panels of ``per_panel`` classes each (the course report's view of its 50 classes:
    "hard to distinguish 50 colors"), as a plotly figure; every panel has the same axes, and the
    other classes' points are drawn in light grey behind the panel's own."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = _panel_groups(len(emb.classes), per_panel)
    cols = min(cols, len(groups))
    rows = -(-len(groups) // cols)
    titles = [f"classes {g[0]}-{g[-1]}" for g in groups]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.04,
                        vertical_spacing=0.08 if rows > 1 else 0.1)
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf")
    x, y = emb.coords[:, 0], emb.coords[:, 1]
    for p, group in enumerate(groups):
        r, c = p // cols + 1, p % cols + 1
        rest = ~np.isin(emb.labels, group)
        fig.add_trace(go.Scattergl(x=x[rest], y=y[rest], mode="markers", showlegend=False, hoverinfo="skip",
                                   marker={"size": 3, "color": "#dddddd"}), row=r, col=c)
        for j, k in enumerate(group):
            sel = emb.labels == k
            fig.add_trace(go.Scattergl(x=x[sel], y=y[sel], mode="markers", name=f"{k}: {emb.classes[k]}",
                                       legendgroup=f"panel{p}", marker={"size": 4, "color": palette[j % 10]},
                                       text=[emb.classes[k]] * int(sel.sum())), row=r, col=c)
    fig.update_xaxes(showticklabels=False, range=[float(x.min()) - 1, float(x.max()) + 1])
    fig.update_yaxes(showticklabels=False, range=[float(y.min()) - 1, float(y.max()) + 1])
    fig.update_layout(height=340 * rows, width=360 * cols + 250, title=f"t-SNE, {per_panel} classes per panel")
    return fig


def write_panels(emb: Embeddings, stem: str | os.PathLike, per_panel: int = 10, cols: int = 3) -> list[Path]:
    """``STEM_panels.png`` (matplotlib) and ``STEM_panels.html`` (plotly, when installed) of :func:`panels_figure`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stem = Path(stem)
    groups = _panel_groups(len(emb.classes), per_panel)
    cols = min(cols, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for p, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if p >= len(groups):
            ax.axis("off")
            continue
        rest = ~np.isin(emb.labels, groups[p])
        ax.scatter(emb.coords[rest, 0], emb.coords[rest, 1], s=2, c="#dddddd", linewidths=0)
        for j, k in enumerate(groups[p]):
            sel = emb.labels == k
            ax.scatter(emb.coords[sel, 0], emb.coords[sel, 1], s=4, color=cmap(j % 10), label=str(emb.classes[k]),
                       linewidths=0)
        ax.set_title(f"classes {groups[p][0]}-{groups[p][-1]}", fontsize=9)
        ax.legend(fontsize=6, markerscale=2, loc="best", frameon=False)
    fig.tight_layout()
    png = stem.with_name(stem.name + "_panels.png")
    runs.save_figure(fig, png, dpi=110)
    plt.close(fig)
    paths = [png]
    try:
        fig2 = panels_figure(emb, per_panel, cols)
    except ImportError:  # plotly is in the `train` extra
        return paths
    html = stem.with_name(stem.name + "_panels.html")
    runs.save_html(fig2, html)
    return [*paths, html]
