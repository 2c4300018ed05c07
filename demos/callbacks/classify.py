"""Classify tab: one image, one or several models, top-5 per model with its latency.

Each model gets exactly the preprocessing its weights declare (``zoo.get_transform``): a CIFAR-10
model shown a large photo has it resized (shorter side) and centre-cropped to 32x32 with the
CIFAR mean/std, as its model card says.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from demos.callbacks import ensemble
from demos.callbacks.common import DemoError, classifier, pretrained_models, read_image


def classify_choices() -> list[str]:
    """Models the Classify tab offers: 3-channel classifiers with weights, plus the ensemble of the
    CIFAR-10 ones when there are at least two (or when ``ensemble`` has weights of its own)."""
    names = pretrained_models("classification", 3)
    if ensemble.NAME not in names and ensemble.is_offered():
        names.append(ensemble.NAME)
    return names


def predict(image: np.ndarray, name: str, top_k: int = 5) -> dict[str, Any]:
    """Top-``k`` classes of one model: ``{"model", "top": [(class, probability), ...], "latency_ms"}``.

    ``latency_ms`` covers the transform and the forward pass (batch 1, CPU, no grad).
    """
    model, transform, names = ensemble.classifier() if name == ensemble.NAME else classifier(name)
    t0 = time.perf_counter()
    x = transform(image).unsqueeze(0)
    with torch.inference_mode():
        out = model(x).float()
    probs = out if ensemble.outputs_probabilities(model) else out.softmax(1)
    latency = (time.perf_counter() - t0) * 1000
    p, idx = probs[0].topk(min(top_k, probs.shape[1]))
    top = [(names[i] if i < len(names) else str(i), float(v)) for v, i in zip(p.tolist(), idx.tolist(), strict=True)]
    return {"model": name, "top": top, "latency_ms": round(latency, 1)}


def classify(image: Any, models: list[str] | str | None, top_k: int = 5) -> tuple[Any, list[dict[str, Any]], str]:
    """The Classify callback: ``(plotly figure, results, markdown note)``.

    Raises ``DemoError`` (shown as a message) for no image, a bad file or no model chosen.
    """
    if isinstance(models, str):
        models = [models]
    if not models:
        avail = classify_choices()
        raise DemoError("Pick at least one model." if avail else
                        "No trained classifier is available yet; train one with `python -m training fit`.")
    notes: list[str] = []
    rgb = read_image(image, notes)
    results = [predict(rgb, m, top_k) for m in models]
    h, w = rgb.shape[:2]
    lines = [f"Image {w}x{h}." + (f" Note: {'; '.join(notes)}." if notes else "")]
    lines += [f"- **{r['model']}**: {r['top'][0][0]} ({100 * r['top'][0][1]:.1f}%), {r['latency_ms']:.0f} ms"
              for r in results]
    return topk_figure(results), results, "\n".join(lines)


def topk_figure(results: list[dict[str, Any]]) -> Any:
    """One horizontal bar chart per model, side by side, titled with the model and its latency."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = max(1, len(results))
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.12 if n > 1 else 0.0,
                        subplot_titles=[f"{r['model']} ({r['latency_ms']:.0f} ms)" for r in results] or None)
    for i, r in enumerate(results, start=1):
        labels = [c for c, _ in r["top"]][::-1]
        values = [100 * p for _, p in r["top"]][::-1]
        fig.add_trace(go.Bar(x=values, y=labels, orientation="h", name=r["model"], showlegend=False,
                             text=[f"{v:.1f}%" for v in values], textposition="auto",
                             hovertemplate="%{y}: %{x:.2f}%<extra>" + r["model"] + "</extra>"), row=1, col=i)
        fig.update_xaxes(range=[0, 100], title_text="probability (%)", row=1, col=i)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 40})
    return fig


def ensemble_members(image: Any, top_k: int = 3) -> tuple[Any, list[dict[str, Any]], str]:
    """The lab's ensemble view: each member's top-``k`` beside the ensemble's, for one image.

    The ensemble is the published :class:`zoo.models.ensemble.Ensemble` (the Classify tab's
    ``ensemble``; :func:`demos.callbacks.ensemble.vote`): the members' probabilities come from its
    ``member_probabilities`` and the average from its ``forward`` (equal weights), on its input
    transform (32x32 scaled to [0, 1]; each member normalises it as it was trained).
    Returns ``(plotly figure, results, markdown)``; ``results`` holds one entry a member then the
    ensemble, with all 10 probabilities under ``"probs"``.
    """
    notes: list[str] = []
    rgb = read_image(image, notes)
    v = ensemble.vote(rgb)

    def entry(label: str, probs: torch.Tensor) -> dict[str, Any]:
        p, idx = probs.topk(min(top_k, probs.numel()))
        return {"model": label, "latency_ms": round(v.latency_ms, 1), "probs": [round(float(x), 6) for x in probs],
                "top": [(v.names[i], float(x)) for x, i in zip(p.tolist(), idx.tolist(), strict=True)]}

    results = [entry(label, probs) for label, probs in zip(v.labels, v.members, strict=True)]
    results.append(entry(f"ensemble ({len(v.labels)} members, average)", v.average))
    h, w = rgb.shape[:2]
    lines = [f"Image {w}x{h}, seen at 32x32 by every member; all together {v.latency_ms:.0f} ms."
             + (f" Note: {'; '.join(notes)}." if notes else "")]
    lines += [f"- **{r['model']}**: {r['top'][0][0]} ({100 * r['top'][0][1]:.1f}%)" for r in results]
    agree = len({r["top"][0][0] for r in results[:-1]}) == 1
    lines.append("The members agree." if agree else "The members disagree; the ensemble averages their probabilities.")
    return topk_figure(results), results, "\n".join(lines)
