"""The Zoo tab: the registry with parameters, weights and metrics, and any model's layer table
(:mod:`demos.callbacks.zoo_browser`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

import zoo
from demos.callbacks import zoo_browser
from demos.limits import LIGHT
from demos.tabs.shared import call


def table(task: str, pretrained_only: bool) -> list[list[Any]]:
    """The registry table's rows for ``task`` ("all" or a task), optionally only models with weights."""
    return call(zoo_browser.models_table, task, pretrained_only)


def details(name: str | None) -> tuple[str, str]:
    """``/zoo_model``: (markdown about the model, its torchinfo layer table)."""
    return call(zoo_browser.model_details, name)


def warm_up_jobs() -> list[Callable[[], Any]]:
    """The registry table counts every model's parameters (seconds): cached before the first visit."""
    return [zoo_browser.models_table]


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events; the table is filled after the page loads."""
    with gr.Tab("Zoo", id="zoo"):
        with gr.Row():
            task = gr.Radio(["all", "classification", "segmentation"], value="all", label="task")
            pretrained = gr.Checkbox(label="with weights only", value=False)
        rows = gr.Dataframe(headers=zoo_browser.COLUMNS, interactive=False, wrap=True, elem_id="zoo_table")
        with gr.Row():
            model = gr.Dropdown(zoo.list_models(), value=None, label="model", elem_id="zoo_model")
            button = gr.Button("Show layers", elem_id="zoo_run")
        info = gr.Markdown(elem_id="zoo_info")
        summary = gr.Code(label="layer summary (torchinfo)", language=None, elem_id="zoo_summary")
    for trigger in (task.change, pretrained.change):
        trigger(table, [task, pretrained], [rows], api_name=False)
    button.click(details, [model], [info, summary], api_name="zoo_model", **LIGHT)
    demo.load(table, [task, pretrained], [rows], api_name=False)
