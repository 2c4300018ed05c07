"""Zoo tab (and the dashboard's zoo browser): the registry as a table and one model's layer summary."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import zoo
from demos.callbacks.common import DemoError

COLUMNS = ["name", "task", "family", "input", "parameters", "weights", "metrics", "model card"]


def card_link(name: str, weight: dict[str, Any]) -> str:
    """Where a weight's model card lives: its Hub repo, the shipped folder, or the registry entry."""
    if weight.get("repo_id"):
        rev = weight.get("revision") or "main"
        return f"https://huggingface.co/{weight['repo_id']}/blob/{rev}/README.md"
    if weight.get("shipped"):
        return f"zoo/weights/{name}.{weight['tag']}/README.md"
    return f"zoo.model_info('{name}')"


@lru_cache(maxsize=4)
def _rows(task: str | None, pretrained_only: bool) -> tuple[tuple[Any, ...], ...]:
    rows = []
    for name in zoo.list_models(task=task or None, pretrained=pretrained_only):
        info = zoo.model_info(name, macs=False)
        c, h, w = info["input_size"]
        ws = info["weights"]
        tags = ", ".join(f"{name}.{x['tag']} ({x['dataset']})" for x in ws) or "-"
        metrics = "; ".join(", ".join(f"{k} {v:.4g}" for k, v in x["metrics"].items()) for x in ws) or "-"
        cards = " ".join(card_link(name, x) for x in ws) or "-"
        rows.append((name, info["task"], info["family"], f"{c}x{h}x{w}", int(info["num_params"]), tags, metrics, cards))
    return tuple(rows)


def models_table(task: str | None = None, pretrained_only: bool = False) -> list[list[Any]]:
    """The registry, one row a model: name, task, family, input (CxHxW), parameters, weights, metrics, card."""
    if task in ("", "all"):
        task = None
    if task is not None and task not in ("classification", "segmentation"):
        raise DemoError(f"unknown task {task!r}")
    return [list(r) for r in _rows(task, bool(pretrained_only))]


@lru_cache(maxsize=32)
def _summary(name: str) -> str:
    from zoo.cli import summary

    return summary(name)


def model_details(name: str | None) -> tuple[str, str]:
    """``(markdown about the model, torchinfo layer table)`` for ``name``."""
    if not name:
        raise DemoError("Pick a model.")
    try:
        info = zoo.model_info(name)
    except (KeyError, TypeError) as exc:
        raise DemoError(str(exc)) from None
    pre = info["preprocessing"]
    lines = [f"### {name}", info["description"] or "", f"- task: {info['task']}; family: {info['family']}",
             f"- paper: {info['paper']}", f"- input: {'x'.join(map(str, info['input_size']))}, "
             f"{info['num_classes']} classes, {info['num_params']:,} parameters",
             f"- preprocessing: resize {pre['resize']}, crop {pre['crop']}, mean {pre['mean']}, std {pre['std']}"]
    for w in info["weights"]:
        m = ", ".join(f"{k} {v:.4g}" for k, v in w["metrics"].items())
        lines.append(f"- weights `{name}.{w['tag']}` ({w['dataset']}, licence {w.get('license', '?')}): {m}; "
                     f"card: {card_link(name, w)}")
    if not info["weights"]:
        lines.append("- no published weights yet")
    try:
        table = _summary(name)
    except Exception as exc:  # torchinfo cannot trace every model at its default size
        table = f"(no layer summary: {exc})"
    return "\n".join(lines), table
