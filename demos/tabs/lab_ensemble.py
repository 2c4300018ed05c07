"""The Lab's *Ensemble* sub-tab: each CIFAR-10 member's top-3 beside the ensemble's average
(:func:`demos.callbacks.classify.ensemble_members`, :mod:`demos.callbacks.ensemble`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import classify
from demos.limits import LIGHT
from demos.tabs.shared import call, examples, image_file
from zoo.models.ensemble import TRAINED_MEMBERS


def run(file: str | None) -> tuple[Any, ...]:
    """``/lab_ensemble``: (top-3 figure, results, markdown)."""
    return call(classify.ensemble_members, file)


def build(demo: gr.Blocks) -> None:
    """Declare the sub-tab and wire its events."""
    with gr.Tab("Ensemble", id="lab_ensemble"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("lab_ensemble_in")
            gr.Markdown(f"Members: {', '.join(TRAINED_MEMBERS)}, each behind its own preprocessing, "
                        "averaged by `zoo.models.ensemble.Ensemble`.", elem_id="lab_ensemble_members")
            button = gr.Button("Compare", variant="primary", elem_id="lab_ensemble_run")
            examples(file)
        with gr.Column(scale=2):
            plot = gr.Plot(label="top-3 per member and the ensemble's average", elem_id="lab_ensemble_plot")
            text = gr.Markdown(elem_id="lab_ensemble_text")
            results = gr.JSON(label="probabilities", visible=False, elem_id="lab_ensemble_json")
    button.click(run, [file], [plot, results, text], api_name="lab_ensemble", **LIGHT)
