"""Embeddings tab (and the dashboard's t-SNE explorer): the 2-D t-SNE of a model's CIFAR-10 test
features, from the embeddings file that ``python -m training embed`` writes (read with
``training.embed.read_embeddings``, the format's one reader).

Files are found in, in order: ``$CVZOO_EMBEDDINGS`` (a folder or a file), the package
(``demos/assets/`` and ``zoo/weights/*/``), and the run folders under ``$CVZOO_RUNS`` (``./runs``).
Each point carries its thumbnail as a small JPEG data URI in ``customdata``; the Gradio page shows
it next to the cursor on hover, and Streamlit shows the thumbnails of selected points.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from demos.callbacks.common import REPO, DemoError, data_root, runs_root
from zoo.weights import SHIPPED_DIR

MAX_POINTS = 1500  # points drawn (a seeded sample; misclassified points are always kept first)


def embedding_files(extra_roots: list[Path] | None = None) -> dict[str, str]:
    """``{label: path}`` of every embeddings file found (label: model, split and where it lives)."""
    candidates: list[Path] = []
    env = os.environ.get("CVZOO_EMBEDDINGS")
    if env:
        p = Path(env)
        candidates += [p] if p.is_file() else sorted(p.glob("*.npz")) if p.is_dir() else []
    candidates += sorted((REPO / "demos" / "assets").glob("embeddings*.npz"))
    candidates += sorted(SHIPPED_DIR.glob("*/embeddings*.npz"))  # shipped beside their weights
    for root in [runs_root(), *(extra_roots or [])]:
        if root.is_dir():
            candidates += sorted(root.glob("embeddings*.npz")) + sorted(root.glob("*/embeddings*.npz"))
    out: dict[str, str] = {}
    for path in candidates:
        label = f"{path.parent.name}/{path.name}"
        if label in out.values() or str(path) in out.values():
            continue
        out.setdefault(label, str(path))
    return out


@lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> Any:
    from training.embed import read_embeddings

    return read_embeddings(path)


def load(path: str | os.PathLike) -> Any:
    """The :class:`training.embed.Embeddings` in ``path`` (cached by path and modification time)."""
    p = Path(path)
    if not p.is_file():
        raise DemoError(f"No embeddings file at {p}.")
    try:
        return _read(str(p), p.stat().st_mtime)
    except (ValueError, KeyError, OSError) as exc:
        raise DemoError(f"{p.name} is not a readable embeddings file: {exc}") from None


def thumbnail_uri(thumb: np.ndarray, quality: int = 85) -> str:
    """A ``(h, w, C)`` uint8 thumbnail as a ``data:image/jpeg;base64,...`` URI."""
    from PIL import Image

    arr = thumb[..., 0] if thumb.ndim == 3 and thumb.shape[2] == 1 else thumb
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sample_indices(emb: Any, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Up to ``max_points`` indices: every misclassified point first (up to a third), the rest at random."""
    n = len(emb.labels)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(emb.labels != emb.predictions)
    wrong = rng.permutation(wrong)[: max_points // 3]
    rest = np.setdiff1d(np.arange(n), wrong)
    return np.sort(np.concatenate([wrong, rng.choice(rest, max_points - len(wrong), replace=False)]))


def tsne_figure(path: str | os.PathLike, colour_by: str = "true", max_points: int = MAX_POINTS,
                thumbnails: bool = True, highlight_errors: bool = True) -> tuple[Any, str]:
    """``(plotly figure, markdown summary)`` of the file's t-SNE.

    ``colour_by``: ``"true"`` or ``"predicted"`` class. Misclassified points are drawn with a
    black-ringed ``x`` on top. ``customdata`` per point: index, true class, predicted class,
    confidence, thumbnail URI (``""`` without thumbnails).
    """
    import plotly.graph_objects as go

    if colour_by not in ("true", "predicted"):
        raise DemoError(f"colour by 'true' or 'predicted', not {colour_by!r}")
    emb = load(path)
    idx = sample_indices(emb, max_points)
    classes = list(emb.classes)
    key = emb.labels if colour_by == "true" else emb.predictions
    wrong = emb.labels != emb.predictions
    uris = [thumbnail_uri(emb.thumbnails[i]) for i in idx] if thumbnails else [""] * len(idx)
    uri_of = dict(zip(idx.tolist(), uris, strict=True))

    def custom(sel: np.ndarray) -> list[list[Any]]:
        return [[int(i), classes[emb.labels[i]], classes[emb.predictions[i]], float(emb.confidence[i]), uri_of[int(i)]]
                for i in sel]

    hover = ("#%{customdata[0]}<br>true: %{customdata[1]}<br>predicted: %{customdata[2]}"
             " (%{customdata[3]:.0%})<extra></extra>")
    fig = go.Figure()
    for c, name in enumerate(classes):
        sel = idx[key[idx] == c]
        if sel.size:
            fig.add_trace(go.Scattergl(x=emb.coords[sel, 0], y=emb.coords[sel, 1], mode="markers", name=name,
                                       marker={"size": 5, "opacity": 0.75}, customdata=custom(sel),
                                       hovertemplate=hover))
    sel = idx[wrong[idx]]
    if highlight_errors and sel.size:
        fig.add_trace(go.Scattergl(x=emb.coords[sel, 0], y=emb.coords[sel, 1], mode="markers",
                                   name=f"misclassified ({int(wrong.sum())})",
                                   marker={"size": 7, "symbol": "x-thin", "line": {"width": 1.5, "color": "black"},
                                           "color": "black"},
                                   customdata=custom(sel), hovertemplate=hover))
    meta = emb.meta
    title = f"t-SNE of {meta.get('model', '?')} features on {meta.get('data', '?')} {meta.get('split', '')}"
    fig.update_layout(title=title, height=560, legend={"itemsizing": "constant"},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis={"visible": False},
                      yaxis={"visible": False, "scaleanchor": "x"}, hovermode="closest")
    text = (f"{len(emb.labels):,} images ({len(idx):,} drawn), accuracy {100 * emb.accuracy:.2f}%, "
            f"{int(wrong.sum()):,} misclassified (black x). Coloured by {colour_by} class. "
            f"t-SNE: {meta.get('tsne', '?')}. Hover a point to see its image.")
    return fig, text


def misclassified(path: str | os.PathLike, n: int = 48, scale: int = 3) -> list[tuple[np.ndarray, str]]:
    """The ``n`` most confident mistakes as ``(image, "true -> predicted (p%)")`` pairs, upscaled ``scale``x."""
    import cv2

    emb = load(path)
    wrong = np.flatnonzero(emb.labels != emb.predictions)
    wrong = wrong[np.argsort(-emb.confidence[wrong])][:n]
    out = []
    for i in wrong:
        t = emb.thumbnails[i]
        t = t[..., 0] if t.ndim == 3 and t.shape[2] == 1 else t
        big = cv2.resize(t, (t.shape[1] * scale, t.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        out.append((big, f"{emb.classes[emb.labels[i]]} → {emb.classes[emb.predictions[i]]} "
                         f"({100 * emb.confidence[i]:.0f}%)"))
    return out


def generate(model: str, limit: int = 1000, out_dir: str | os.PathLike | None = None) -> str:
    """Write an embeddings file of registry model ``model`` on ``limit`` CIFAR-10 test images
    (``training.embed.embed``; needs the data set under the data root). Returns its path."""
    cifar = data_root() / "cifar10"
    if not cifar.exists():
        raise DemoError(f"CIFAR-10 is not under {data_root()}; set CVZOO_DATA, or use a shipped embeddings file.")
    from training.embed import embed

    out = Path(out_dir or runs_root()) / f"embeddings_{model}_test_{limit}.npz"
    try:
        return str(embed(model, "cifar10", "test", out=out, data_root=str(data_root()), limit=limit))
    except Exception as exc:  # a missing weight, data set or extra: tell the user which
        raise DemoError(f"Could not compute embeddings for {model}: {exc}") from None
