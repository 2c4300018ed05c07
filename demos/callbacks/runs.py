"""The dashboard's data: training run folders and pb-lite benchmark folders, as plotly figures.

Formats read (written by ``training`` and ``pblite``; see ``training/runs.py`` and
``training/evaluate.py``):

- a run folder: ``config.json``, ``metrics.jsonl`` (one JSON object an epoch: ``epoch``,
  ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``, ...), ``eval/<split>/metrics.json``
  (``accuracy``, ``per_class_accuracy`` {class: accuracy}) and ``eval/<split>/confusion.npy``
  (rows true, columns predicted), ``embeddings_<split>.npz``;
- a pb-lite benchmark folder (``python -m pblite bench-bsds --out DIR``): ``results.json`` =
  ``{"meta": ..., "results": {method: {"ODS", "OIS", "AP", "ODS_recall", "ODS_precision",
  "pr_curve": {"recall": [...], "precision": [...]}, "protocol": ...}}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo import artifacts
from zoo.artifacts import find_runs as find_runs  # the one reader of run folders, for the dashboard
from zoo.artifacts import read_metrics

HOW_TO_TRAIN = (
    "No training runs found under `{root}`. Make one with, for example:\n\n"
    "```bash\n"
    ".venv/bin/python -m training fit lenet5 --data mnist --epochs 2 --out {root}/lenet5_mnist\n"
    ".venv/bin/python -m training eval {root}/lenet5_mnist\n"
    ".venv/bin/python -m training embed {root}/lenet5_mnist   # t-SNE and misclassified images\n"
    "```\n\n"
    "or point the dashboard at another folder (sidebar, or `CVZOO_RUNS=/path`)."
)


def find_pb_results(root: str | os.PathLike, depth: int = 3) -> list[str]:
    """``results.json`` files of pb-lite benchmarks under ``root`` (those holding PR curves)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for level in range(depth + 1):
        for p in root.glob("/".join(["*"] * level + ["results.json"])):
            try:
                data = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and any("pr_curve" in v for v in data.get("results", {}).values()
                                              if isinstance(v, dict)):
                out.append(str(p))
    return sorted(set(out))


# A pb-lite benchmark shipped with the demos (BSDS500 val, its first 10 images), so that the PR tab has
# real curves on a fresh clone; its command is in its results.json ("meta").
SHIPPED_PB = Path(__file__).resolve().parents[1] / "assets" / "pblite-bsds"


def shipped_pb_results() -> list[str]:
    """The shipped pb-lite benchmark's ``results.json`` (``[]`` when absent)."""
    return find_pb_results(SHIPPED_PB, depth=0)


def find_experiments(root: str | os.PathLike, depth: int = 3) -> list[str]:
    """``results.json`` files of the course experiments (``python -m training experiment``) under ``root``."""
    out = []
    for level in range(depth + 1):
        for p in Path(root).glob("/".join(["*"] * level + ["results.json"])):
            try:
                data = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "experiment" in data and isinstance(data.get("rows"), list):
                out.append(str(p))
    return sorted(set(out))


EXPERIMENT_COLUMNS = ("row", "change", "model", "epochs", "train_images", "test_images", "test_acc",
                      "majority_fraction", "train_wall_s", "status", "command")


def experiment_table(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """One experiment's ``(header, rows, run folders)``: the header holds its question, design, notes and
    budget; each row its change, model, budget, test accuracy and majority-class share (in %), training
    wall time (s), status and the command that reproduces it; run folders are the rows' that exist."""
    data = json.loads(Path(path).read_text())
    header = {k: data.get(k) for k in ("experiment", "question", "design", "notes", "data", "budget_epochs",
                                       "train_limit", "test_limit")}
    rows = []
    for r in data["rows"]:
        row = {k: r.get(k) for k in EXPERIMENT_COLUMNS}
        for k in ("test_acc", "majority_fraction"):
            row[k] = None if row[k] is None else round(100 * float(row[k]), 2)
        rows.append(row)
    folders = [r["run_dir"] for r in data["rows"]
               if r.get("run_dir") and (Path(r["run_dir"]) / "metrics.jsonl").is_file()]
    return header, rows, folders


def shipped_records() -> list[str]:
    """The training records shipped inside the package's weights folders (``zoo/weights/<id>/record``,
    written by ``python -m training export``): run folders without a checkpoint."""
    from zoo.weights import SHIPPED_DIR

    return [str(p) for p in sorted(SHIPPED_DIR.glob("*/record")) if artifacts.is_run_folder(p)]


def record_mistakes(run: str | os.PathLike, split: str = "test", scale: int = 3) -> list[tuple[np.ndarray, str]]:
    """A run's most confident test mistakes (``eval/<split>/misclassified.npz``) as ``(image, "true →
    predicted (p%)")`` pairs, upscaled ``scale``x; ``[]`` when the run has none stored."""
    import cv2

    path = Path(run) / "eval" / split / "misclassified.npz"
    if not path.is_file():
        return []
    with np.load(path, allow_pickle=False) as z:
        images, labels, predictions = z["images"], z["labels"], z["predictions"]
        confidence, classes = z["confidence"], [str(c) for c in z["classes"]]
    out = []
    for im, t, p, c in zip(images, labels, predictions, confidence, strict=True):
        im = im[..., 0] if im.shape[-1] == 1 else im
        big = cv2.resize(im, (im.shape[1] * scale, im.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        out.append((big, f"{classes[t]} → {classes[p]} ({100 * c:.0f}%)"))
    return out


def label(run: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    p = Path(run)
    if p.name == "record" and (p.parent / "model.safetensors").is_file():
        return f"{p.parent.name} (shipped)"
    if p == SHIPPED_PB:
        return f"{p.name} (shipped)"
    try:
        return str(p.relative_to(root)) if root else p.name
    except ValueError:
        return p.name


def read_config(run: str | os.PathLike) -> dict[str, Any]:
    """A run's ``config.json`` in the current schema; ``{}`` when it cannot be read (the dashboard shows
    what it can)."""
    try:
        return artifacts.read_config(run)
    except artifacts.ArtifactError:
        return {}


def eval_splits(run: str | os.PathLike) -> list[str]:
    ev = Path(run) / "eval"
    return sorted(p.name for p in ev.iterdir() if (p / "metrics.json").is_file()) if ev.is_dir() else []


def read_eval(run: str | os.PathLike, split: str) -> dict[str, Any]:
    folder = Path(run) / "eval" / split
    out: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        out = json.loads((folder / "metrics.json").read_text())
    if (folder / "confusion.npy").is_file():
        out["confusion"] = np.load(folder / "confusion.npy", allow_pickle=False)
    return out


def class_names_of(run: str | os.PathLike, ev: dict[str, Any] | None = None, k: int | None = None) -> list[str]:
    cfg = read_config(run)
    names = cfg.get("class_names") or list((ev or {}).get("per_class_accuracy", {}))
    if k is not None and len(names) != k:
        names = [str(i) for i in range(k)]
    return [str(n) for n in names]


def summary_rows(runs: list[str], root: str | None = None) -> list[dict[str, Any]]:
    """One row a run: model, data, recipe, epochs, best and last test accuracy, evaluated accuracy."""
    rows = []
    for r in runs:
        cfg, m = read_config(r), read_metrics(r)
        accs = [x["test_acc"] for x in m if x.get("test_acc") is not None]
        splits = eval_splits(r)
        ev = read_eval(r, splits[0]) if splits else {}
        rows.append({"run": label(r, root), "model": cfg.get("model"), "data": cfg.get("data"),
                     "recipe": cfg.get("recipe"), "epochs": len(m),
                     "best test acc": round(max(accs), 4) if accs else None,
                     "last test acc": round(accs[-1], 4) if accs else None,
                     "eval acc": round(ev["accuracy"], 4) if "accuracy" in ev else None})
    return rows


def curves_figure(runs: list[str], root: str | None = None) -> Any:
    """Loss (left) and accuracy in % (right) per epoch; solid test, dotted train; one colour a run."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy (%)"))
    for i, r in enumerate(runs):
        rows = read_metrics(r)
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        ep = [x.get("epoch") for x in rows]
        name = label(r, root)
        for split, dash in (("train", "dot"), ("test", "solid")):
            for col, key, scale in ((1, f"{split}_loss", 1.0), (2, f"{split}_acc", 100.0)):
                ys = [x.get(key) * scale if x.get(key) is not None else None for x in rows]
                if any(y is not None for y in ys):
                    fig.add_trace(go.Scatter(x=ep, y=ys, mode="lines+markers", name=f"{name} {split}",
                                             legendgroup=name, line={"color": colour, "dash": dash},
                                             showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


# He et al. (2016), Fig. 6 of the lecture: plain nets train worse as they deepen, residual nets better.
HE_NETS = ("plain20", "plain56", "resnet20", "resnet56")


def he_records() -> dict[str, str]:
    """``{model: record}`` of the shipped records of He et al.'s four CIFAR-10 networks (those present)."""
    found = {read_config(r).get("model"): r for r in shipped_records()}
    return {m: found[m] for m in HE_NETS if m in found}


def train_error_figure(records: dict[str, str]) -> Any:
    """The lecture's plain-versus-residual figure: training error (%) per epoch, solid, and test error,
    dashed; plain nets in warm colours, residual nets in cool ones, the deeper net of each thicker."""
    import plotly.graph_objects as go

    colours = {"plain20": "#f4a261", "plain56": "#d62828", "resnet20": "#48cae4", "resnet56": "#023e8a"}
    fig = go.Figure()
    for name, run in records.items():
        rows = read_metrics(run)
        ep = [x.get("epoch") for x in rows]
        style = {"color": colours.get(name), "width": 3 if name.endswith("56") else 1.5}
        fig.add_trace(go.Scatter(x=ep, y=[100 * (1 - x["train_acc"]) for x in rows], mode="lines+markers",
                                 name=f"{name} train", line=style))
        fig.add_trace(go.Scatter(x=ep, y=[None if x.get("test_acc") is None else 100 * (1 - x["test_acc"])
                                          for x in rows], mode="lines", name=f"{name} test",
                                 line={**style, "dash": "dash"}))
    fig.update_layout(title="plain vs residual on CIFAR-10: training error (solid), test error (dashed)",
                      xaxis_title="epoch", yaxis_title="error (%)", height=420,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def confusion_figure(confusion: np.ndarray, names: list[str], title: str = "") -> Any:
    """Heatmap of the row-normalised confusion matrix (colour) with the counts as text."""
    import plotly.graph_objects as go

    c = np.asarray(confusion)
    norm = c / np.maximum(1, c.sum(1, keepdims=True))
    fig = go.Figure(go.Heatmap(z=norm, x=names, y=names, colorscale="Blues", zmin=0, zmax=1,
                               text=c.astype(int), texttemplate="%{text}" if len(names) <= 20 else None,
                               customdata=c, colorbar={"title": "share of true class"},
                               hovertemplate="true %{y}, predicted %{x}: %{customdata} (%{z:.1%})<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      height=max(380, 30 * len(names) + 150), margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def per_class_figure(runs: list[str], split: str = "test", root: str | None = None) -> Any:
    """Grouped bars: accuracy (%) per class, one colour a run (runs without that evaluation are skipped)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in runs:
        ev = read_eval(r, split)
        pc = ev.get("per_class_accuracy")
        if pc:
            fig.add_trace(go.Bar(x=list(pc), y=[100 * v for v in pc.values()], name=label(r, root)))
    fig.update_layout(barmode="group", yaxis_title="accuracy (%)", xaxis_title="class", height=380,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def read_pb_results(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    return json.loads(Path(path).read_text()).get("results", {})


def pr_figure(paths: list[str], root: str | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """BSDS precision-recall curves of every method in every results file (ODS point marked),
    with iso-F contours; and a table of ODS/OIS/AP with each score's protocol."""
    import plotly.graph_objects as go

    fig = go.Figure()
    r = np.linspace(0.01, 1, 200)
    for f in np.arange(0.1, 1.0, 0.1):
        p = f * r / (2 * r - f)
        ok = (p > 0) & (p <= 1)
        fig.add_trace(go.Scatter(x=r[ok], y=p[ok], mode="lines", line={"color": "#ddd", "width": 1},
                                 hoverinfo="skip", showlegend=False))
    table = []
    for path in paths:
        run = label(Path(path).parent, root)
        for method, res in read_pb_results(path).items():
            c = res.get("pr_curve", {})
            rec, prec = np.asarray(c.get("recall", [])), np.asarray(c.get("precision", []))
            ok = (rec > 0) | (prec > 0)
            name = f"{run}: {method} (ODS {res.get('ODS', float('nan')):.3f})"
            fig.add_trace(go.Scatter(x=rec[ok], y=prec[ok], mode="lines", name=name))
            if "ODS_recall" in res:
                fig.add_trace(go.Scatter(x=[res["ODS_recall"]], y=[res["ODS_precision"]], mode="markers",
                                         marker={"size": 9}, showlegend=False, hoverinfo="skip"))
            proto = res.get("protocol", {})
            table.append({"run": run, "method": method, "ODS": res.get("ODS"), "OIS": res.get("OIS"),
                          "AP": res.get("AP"), "images": res.get("n_images"),
                          "thresholds": proto.get("thresholds"), "max_dist": proto.get("max_dist"),
                          "thinning": proto.get("apply_thinning")})
    fig.update_layout(xaxis={"range": [0, 1], "title": "recall"}, yaxis={"range": [0, 1], "title": "precision"},
                      height=520, title="BSDS500 boundaries: precision-recall",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig, table


def run_embeddings(run: str | os.PathLike) -> list[str]:
    """Embeddings files inside a run folder."""
    return sorted(str(p) for p in Path(run).glob("embeddings*.npz"))


# ---- experiments: the course's recipes against ours --------------------------------------------------------------

NO_EXPERIMENTS = (
    "No experiment runs yet: make one with `python -m training fit ...`, e.g. the course's settings and ours "
    "for the same network:\n\n"
    "```bash\n"
    ".venv/bin/python -m training fit cifar_cnn --data cifar10 --recipe course --out "
    "{root}/cifar_cnn_course\n"
    ".venv/bin/python -m training fit cifar_cnn --data cifar10 --recipe cifar_cnn_cifar10 --out {root}/cifar_cnn_ours\n"
    "```\n\n"
    "A run counts as the course's side when its recipe's name (config.json) contains \"course\"."
)


def run_recipe(run: str | os.PathLike) -> str:
    """The recipe name a run's ``config.json`` records (``""`` when absent)."""
    r = read_config(run).get("recipe")
    return str(r.get("name", "")) if isinstance(r, dict) else str(r or "")


def is_course(run: str | os.PathLike) -> bool:
    """True for runs of a course recipe (its name contains "course")."""
    return "course" in run_recipe(run).lower()


def experiment_runs(root: str | os.PathLike) -> tuple[list[str], list[str]]:
    """``(course runs, our runs)`` under ``root``: only the (model, data) pairs that have a course run."""
    runs = find_runs(root)
    course = [r for r in runs if is_course(r)]
    pairs = {(read_config(r).get("model"), read_config(r).get("data")) for r in course}
    ours = [r for r in runs if not is_course(r) and (read_config(r).get("model"), read_config(r).get("data")) in pairs]
    return course, ours


def experiment_rows(course: list[str], ours: list[str], root: str | None = None) -> list[dict[str, Any]]:
    """The comparison table: :func:`summary_rows` of every run with its side and the course's published number
    (the ``course`` field of the recipe the run recorded, else of the registry's recipe, in %), ordered by
    (model, data), course first."""
    try:
        from training.recipes import RECIPES
    except ImportError:  # the dashboard without the training package: no published numbers
        RECIPES = {}
    rows = []
    for side, runs in (("course", course), ("ours", ours)):
        for r, row in zip(runs, summary_rows(runs, root), strict=True):
            cfg = read_config(r)
            recipe = RECIPES.get(run_recipe(r))
            if recipe is not None and cfg.get("model") in recipe.models:  # a shared recipe: that model's number
                recipe = recipe.for_model(cfg["model"])
            reported = (cfg.get("recipe_fields") or {}).get("course", getattr(recipe, "course", None))
            rows.append({"side": side, **row, "course reported (%)": reported})
    return sorted(rows, key=lambda x: (str(x["model"]), str(x["data"]), x["side"] != "course"))
